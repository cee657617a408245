/**
 * The store contract suite: one set of node:test cases that every ResourceStore + ConfigSource
 * implementation runs (etcd and embedded), like hono's `router/common.case.test.ts`. It is a
 * subpath export (`@aisix/store/contract`) so the runtime barrel never pulls in node:test.
 *
 * Each case calls `factory.open()` for a fresh, isolated store and closes it afterwards.
 * The runners are `./embedded.test.ts` and `./etcd.test.ts`.
 */
import { describe } from 'node:test';
import { auditCases } from './audit.js';
import { crudCases } from './crud.js';
import type { StoreFactory } from './factory.js';
import { watchCases } from './watch.js';

export type { OpenedStore, StoreFactory } from './factory.js';

/** Register the contract suites for one implementation. */
export function runStoreContract(factory: StoreFactory): void {
  describe(`store contract: ${factory.name}`, () => {
    crudCases(factory);
    auditCases(factory);
    watchCases(factory);
  });
}
