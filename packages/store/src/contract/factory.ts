/**
 * What an implementation hands the store contract suite (index.ts): how to open a fresh store.
 * Apart from index.ts so the case files can name it without an import cycle.
 */
import type { ConfigSource, ResourceStore } from '../types.js';

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
