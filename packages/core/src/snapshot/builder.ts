/**
 * Turns what the store holds into snapshots: `resync` rebuilds from a full load, `put` and
 * `delete` apply one watch event. Each call returns a NEW snapshot and leaves every earlier
 * one untouched (copy-on-write per kind, see `./state.ts`), so a request that read the old
 * reference keeps a consistent view. Carries the last-known-good pins and rejection
 * timestamps across calls, which is why it is a class and not a single function.
 * Leaves out: I/O, the watch loop and the on-disk cache (`@aisix/store` config-sync).
 */
import type { KindName } from '../kinds.js';
import { type Classified, classify } from './classify.js';
import { deepFreeze } from './frozen.js';
import { emptySnapshot, snapshotOf } from './snapshot.js';
import {
  type Blob,
  Draft,
  INITIAL_STATE,
  type KeyState,
  type Served,
  type State,
  sameBytes,
} from './state.js';
import type { ConfigSnapshot, ObservedEntry, Resource, StaleEntry } from './types.js';

export interface SnapshotBuilderOptions {
  /** Effective key prefix without trailing slash, e.g. `/aisix`. */
  readonly prefix: string;
  /** Clock in epoch milliseconds (tests pin it). */
  readonly now?: () => number;
}

export interface ObservedState {
  /** Every observed key with its current raw bytes (rejected ones too). */
  readonly entries: ObservedEntry[];
  /** Last-known-good values still serving for rejected keys. */
  readonly stale: StaleEntry[];
}

function bucketOf(v: Classified): string {
  return v.ok ? v.kind : v.resourceKind;
}

function makeResource(v: Classified & { ok: true }, e: ObservedEntry): Resource {
  return Object.freeze({
    kind: v.kind,
    id: v.id,
    key: e.key,
    revision: e.revision,
    value: deepFreeze(v.value) as Resource['value'],
  });
}

export class SnapshotBuilder {
  readonly #prefix: string;
  readonly #now: () => number;
  #state: State = INITIAL_STATE;
  #current: ConfigSnapshot = emptySnapshot();
  #seq = 0;

  constructor(opts: SnapshotBuilderOptions) {
    if (opts.prefix.endsWith('/')) throw new TypeError('prefix must not end with "/" (use e.g. "/aisix")');
    this.#prefix = opts.prefix;
    this.#now = opts.now ?? Date.now;
  }

  /** The last snapshot returned (the empty snapshot before the first call). */
  get current(): ConfigSnapshot {
    return this.#current;
  }

  /**
   * Full rebuild from a load. Keys absent from `entries` are forgotten, pins included.
   * `stale` re-establishes pins from the on-disk cache when the cached value is rejected.
   */
  resync(
    entries: readonly ObservedEntry[],
    revision: number,
    stale: readonly StaleEntry[] = [],
  ): ConfigSnapshot {
    const now = this.#now();
    const prev = this.#state;
    const staleByKey = new Map(stale.map((s) => [s.key, s]));
    const latest = new Map<string, ObservedEntry>();
    for (const e of entries) latest.set(e.key, e);
    const draft = new Draft(INITIAL_STATE);
    for (const e of latest.values()) {
      const verdict = classify(this.#prefix, e.key, e.value);
      const bucket = bucketOf(verdict);
      const before = prev.keys.get(bucket)?.get(e.key);
      const next = this.#next(e, verdict, before, now, staleByKey.get(e.key));
      draft.setKey(bucket, e.key, next);
      draft.setServed(undefined, next.served);
    }
    const built = this.#finish(draft, { loaded: true, revision, applySeq: prev.applySeq, appliedAt: now });
    const changed = !prev.loaded || servedChanged(prev, built);
    return this.#publish(changed ? { ...built, applySeq: prev.applySeq + 1 } : built, now);
  }

  /** Applies one watch put. A rejected value for a served key keeps the old value serving. */
  put(entry: ObservedEntry): ConfigSnapshot {
    const now = this.#now();
    const prev = this.#state;
    const verdict = classify(this.#prefix, entry.key, entry.value);
    const bucket = bucketOf(verdict);
    const before = prev.keys.get(bucket)?.get(entry.key);
    const next = this.#next(entry, verdict, before, now, undefined);
    const draft = new Draft(prev);
    draft.setKey(bucket, entry.key, next);
    draft.setServed(before?.served, next.served);
    const changed = !sameBytes(before?.served?.blob, next.served?.blob);
    return this.#publish(this.#finishEvent(draft, entry.revision, changed, now), now);
  }

  /** Applies one watch delete: the key stops serving and its pin and rejection are forgotten. */
  delete(key: string, revision: number): ConfigSnapshot {
    const now = this.#now();
    const prev = this.#state;
    const draft = new Draft(prev);
    let changed = false;
    for (const [bucket, keys] of prev.keys) {
      const before = keys.get(key);
      if (before === undefined) continue;
      draft.setKey(bucket, key, undefined);
      draft.setServed(before.served, undefined);
      changed = before.served !== undefined;
      break;
    }
    return this.#publish(this.#finishEvent(draft, revision, changed, now), now);
  }

  /** Raw observed entries and live pins: what the on-disk cache stores. */
  observed(): ObservedState {
    const entries: ObservedEntry[] = [];
    const stale: StaleEntry[] = [];
    for (const keys of this.#state.keys.values()) {
      for (const ks of keys.values()) {
        entries.push({ key: ks.obs.key, value: ks.obs.value, revision: ks.obs.revision });
        if (ks.pinnedSince !== undefined && ks.served !== undefined) {
          const b = ks.served.blob;
          stale.push({
            key: b.key,
            value: b.value,
            revision: b.revision,
            sinceUnixSecs: Math.floor(ks.pinnedSince / 1000),
          });
        }
      }
    }
    return { entries, stale };
  }

  #next(
    e: ObservedEntry,
    verdict: Classified,
    before: KeyState | undefined,
    now: number,
    stale: StaleEntry | undefined,
  ): KeyState {
    const obs: Blob = { key: e.key, value: e.value, revision: e.revision };
    const seq = before?.seq ?? this.#seq++;
    if (verdict.ok) {
      const served: Served = {
        blob: obs,
        resource: makeResource(verdict, e),
        unknownFields: verdict.unknownFields,
      };
      return {
        obs,
        verdict,
        served,
        pinnedSince: undefined,
        rejectFirstSeen: undefined,
        rejectLastSeen: undefined,
        seq,
      };
    }
    // Last-known-good: whatever this key served before (fresh or already pinned) keeps serving.
    let served = before?.served;
    let pinnedSince = served === undefined ? undefined : (before?.pinnedSince ?? now);
    if (served === undefined && stale !== undefined) {
      const sv = classify(this.#prefix, stale.key, stale.value);
      if (sv.ok) {
        const blob: Blob = { key: stale.key, value: stale.value, revision: stale.revision };
        served = { blob, resource: makeResource(sv, stale), unknownFields: sv.unknownFields };
        pinnedSince = stale.sinceUnixSecs * 1000;
      }
    }
    const wasRed = before !== undefined && !before.verdict.ok;
    const rejectFirstSeen = wasRed ? (before.rejectFirstSeen ?? now) : now;
    return { obs, verdict, served, pinnedSince, rejectFirstSeen, rejectLastSeen: now, seq };
  }

  #finish(draft: Draft, fields: Pick<State, 'loaded' | 'revision' | 'applySeq' | 'appliedAt'>): State {
    return draft.finish(fields, (key) => draft.keyState('models' satisfies KindName, key)?.seq ?? 0);
  }

  #finishEvent(draft: Draft, revision: number, changed: boolean, now: number): State {
    const prev = this.#state;
    return this.#finish(draft, {
      loaded: prev.loaded,
      revision: Math.max(prev.revision, revision),
      applySeq: prev.applySeq + (changed ? 1 : 0),
      appliedAt: now,
    });
  }

  #publish(state: State, now: number): ConfigSnapshot {
    this.#state = Object.isFrozen(state) ? state : Object.freeze(state);
    this.#current = snapshotOf(this.#state, now);
    return this.#current;
  }
}

/** Whether two states serve different bytes (equal canonical JSON counts as the same). */
function servedChanged(a: State, b: State): boolean {
  let na = 0;
  for (const keys of a.keys.values()) for (const ks of keys.values()) if (ks.served !== undefined) na++;
  let nb = 0;
  for (const [bucket, keys] of b.keys) {
    for (const [key, ks] of keys) {
      if (ks.served === undefined) continue;
      nb++;
      if (!sameBytes(a.keys.get(bucket)?.get(key)?.served?.blob, ks.served.blob)) return true;
    }
  }
  return na !== nb;
}
