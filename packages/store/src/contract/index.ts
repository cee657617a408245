/**
 * The store contract suite: one set of node:test cases that every ResourceStore + ConfigSource
 * implementation runs (etcd and embedded), like hono's `router/common.case.test.ts`. It is a
 * subpath export (`@aisix/store/contract`) so the runtime barrel never pulls in node:test.
 *
 * Each case calls `factory.open()` for a fresh, isolated store and closes it afterwards.
 * The runners are `./embedded.test.ts` and `./etcd.test.ts`.
 */
import { describe } from 'node:test';
import type { ConfigSource, ResourceStore } from '../types.js';
import { auditCases } from './audit.js';
import { crudCases } from './crud.js';
import { watchCases } from './watch.js';

export interface OpenedStore {
  readonly store: ResourceStore;
  readonly source: ConfigSource;
  /** Close the store, the source and whatever the factory opened for them. */
  close(): Promise<void>;
  /** Write raw bytes at a full key (bad documents, look-alike kinds); resolves with the revision. */
  putRaw(key: string, value: Uint8Array): Promise<number>;
  /**
   * Drop history before `revision` (etcd compaction), so a watch from an older revision ends
   * `compacted`. Optional; the compaction case is skipped, with the reason, without it.
   */
  compact?(revision: number): Promise<void>;
}

export interface StoreFactory {
  /** Suite name, e.g. `etcd` or `embedded`. */
  readonly name: string;
  open(): Promise<OpenedStore>;
}

/** Register the contract suites for one implementation. */
export function runStoreContract(factory: StoreFactory): void {
  describe(`store contract: ${factory.name}`, () => {
    crudCases(factory);
    auditCases(factory);
    watchCases(factory);
  });
}
