/**
 * Small helpers for the store contract suite: open/close around a test, a watch collector
 * that can wait for N events, and error-code assertions.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { type KindName, resourceKey } from '@aisix/core';
import {
  type ConfigSource,
  StoreError,
  type StoreErrorCode,
  type WatchEnd,
  type WatchEvent,
} from '../types.js';
import type { OpenedStore, StoreFactory } from './factory.js';

/** Open a fresh store (own prefix / own dir), run `fn`, always close. */
export async function withStore(factory: StoreFactory, fn: (s: OpenedStore) => Promise<void>): Promise<void> {
  const s = await factory.open();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

/** The spec's key layout `<prefix>/<kind>/<id>`. */
export function keyOf(source: { readonly prefix: string }, kind: KindName, id: string): string {
  return resourceKey(source.prefix, kind, id);
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (value: Uint8Array): string => new TextDecoder().decode(value);

/** Assert that `p` rejects with a StoreError of `code`; returns it. */
export async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StoreError, `expected StoreError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected StoreError(${code}), but the call succeeded`);
}

export interface Collector {
  readonly events: WatchEvent[];
  /** Resolves when the watch ends. */
  readonly ended: Promise<WatchEnd>;
  /** Wait until at least `n` events arrived (fails after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  /** Abort the watch and return how it ended. */
  stop(): Promise<WatchEnd>;
}

export function collect(source: ConfigSource, from: number): Collector {
  const events: WatchEvent[] = [];
  const ac = new AbortController();
  let end: WatchEnd | undefined;
  const ended = source
    .watch(from, (batch) => events.push(...batch), ac.signal)
    .then((e) => {
      end = e;
      return e;
    });
  return {
    events,
    ended,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (end) assert.fail(`watch ended (${end.reason}) after ${events.length}/${n} events`);
        if (Date.now() > deadline)
          assert.fail(`only ${events.length}/${n} watch events after ${timeoutMs} ms`);
        await sleep(5);
      }
    },
    async stop() {
      ac.abort();
      return ended;
    },
  };
}

/** Compact summary of events for deep-equal assertions. */
export function summary(events: readonly WatchEvent[]): Array<[string, string, number, unknown?]> {
  return events.map((e) =>
    e.type === 'put' ? ['put', e.key, e.revision, JSON.parse(text(e.value))] : ['delete', e.key, e.revision],
  );
}
