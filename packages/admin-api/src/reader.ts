/**
 * Where admin reads come from: the store (etcd / embedded, so a write is visible to the
 * next read at once) or, in file mode, the entries of the live file snapshot.
 */
import type { KindName } from '@aisix/core';
import type { ResourceStore, StoredDoc } from '@aisix/store';

export interface ResourceReader {
  /** As `ResourceStore.list`: values that are not JSON documents are skipped and reported to `onSkip`. */
  list(kind: KindName, onSkip?: (id: string, reason: string) => void): Promise<StoredDoc[]>;
  /** As `ResourceStore.get`: fails `undecodable` for a key whose value is not a JSON document. */
  get(kind: KindName, id: string): Promise<StoredDoc | null>;
}

export interface FileEntry {
  readonly kind: KindName;
  readonly id: string;
  readonly value: Record<string, unknown>;
  readonly revision: number;
}

export function storeReader(store: ResourceStore): ResourceReader {
  return { list: (kind, onSkip) => store.list(kind, onSkip), get: (kind, id) => store.get(kind, id) };
}

/** Reads the current entries on every call, so a SIGHUP reload shows up without rewiring. */
export function fileReader(entries: () => readonly FileEntry[]): ResourceReader {
  const pick = (e: FileEntry): StoredDoc => ({ id: e.id, value: e.value, revision: e.revision });
  return {
    list: async (kind) =>
      entries()
        .filter((e) => e.kind === kind)
        .map(pick)
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    get: async (kind, id) => {
      const e = entries().find((x) => x.kind === kind && x.id === id);
      return e === undefined ? null : pick(e);
    },
  };
}
