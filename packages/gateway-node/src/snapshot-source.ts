/**
 * The seam between the gateway and whatever produces configuration snapshots. The CLI adapts
 * the store's config sync to it; tests hand in snapshots they built directly. A request reads
 * `current()` exactly once, at its start, and keeps that snapshot to the end.
 */
import type { ConfigSnapshot } from '@aisix/core';

export interface SnapshotSource {
  current(): ConfigSnapshot;
  /** True once the first snapshot has been applied (readiness gate). */
  readonly ready: boolean;
}

/** A source whose snapshot the owner swaps (tests, embedded wiring). */
export class MutableSnapshotSource implements SnapshotSource {
  #snapshot: ConfigSnapshot;
  constructor(initial: ConfigSnapshot) {
    this.#snapshot = initial;
  }
  current(): ConfigSnapshot {
    return this.#snapshot;
  }
  get ready(): boolean {
    return this.#snapshot.loaded;
  }
  set(next: ConfigSnapshot): void {
    this.#snapshot = next;
  }
}
