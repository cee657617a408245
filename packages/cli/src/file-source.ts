/**
 * The resources-file source (`resources_file` in config.yaml): the file is loaded through
 * core's pipeline at boot, and again on every `reload()` (SIGHUP). A reload that fails keeps
 * the previous entries and returns the report; one that succeeds swaps all entries at once
 * under a new generation (the entries' `revision`).
 *
 * To the rest of the process the file looks like a store: a read-only `ResourceStore`
 * (writes fail `read_only`; the admin API answers 409 before it gets there) and a
 * `ConfigSource` whose watch emits the put/delete diff of each successful reload, so the
 * gateway's config sync and snapshot builder are the same code as for etcd.
 */
import { readFile } from 'node:fs/promises';
import { type KindName, loadResourcesFile } from '@aisix/core';
import {
  type ConfigSource,
  type LoadResult,
  type RawEntry,
  type ResourceStore,
  type StoredDoc,
  StoreError,
  type WatchEnd,
  type WatchEvent,
  type WriteResult,
} from '@aisix/store';

export interface FileEntry {
  readonly kind: KindName;
  readonly id: string;
  readonly value: Record<string, unknown>;
  readonly revision: number;
}

type LoadOutcome = { ok: true; entries: FileEntry[] } | { ok: false; report: string };

const encoder = new TextEncoder();

async function runPipeline(path: string, env: NodeJS.ProcessEnv, revision: number): Promise<LoadOutcome> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    return {
      ok: false,
      report: `resources file ${path}: 1 error(s):\n  - (file): cannot read file: ${code}`,
    };
  }
  const r = loadResourcesFile({ text, path, env: { ...env } });
  if (!r.ok) return { ok: false, report: r.report };
  return {
    ok: true,
    entries: r.entries.map((e) => ({ kind: e.kind as KindName, id: e.id, value: e.value, revision })),
  };
}

export class FileResources {
  readonly path: string;
  readonly prefix: string;
  readonly #env: NodeJS.ProcessEnv;
  #entries: FileEntry[] = [];
  #generation = 0;
  /** Events of every reload, in order, so a watch from an older revision can catch up. */
  #history: WatchEvent[] = [];
  readonly #listeners = new Set<() => void>();

  private constructor(path: string, prefix: string, env: NodeJS.ProcessEnv) {
    this.path = path;
    this.prefix = prefix;
    this.#env = env;
  }

  /** Loads the file once; a failing file is a boot failure (the caller prints the report). */
  static async open(
    path: string,
    prefix: string,
    env: NodeJS.ProcessEnv,
  ): Promise<{ ok: true; resources: FileResources } | { ok: false; report: string }> {
    const res = new FileResources(path, prefix, env);
    const r = await runPipeline(path, env, 1);
    if (!r.ok) return r;
    res.#generation = 1;
    res.#entries = r.entries;
    return { ok: true, resources: res };
  }

  get generation(): number {
    return this.#generation;
  }

  entries(): readonly FileEntry[] {
    return this.#entries;
  }

  /** Re-runs the whole pipeline. Any error rejects the whole file and keeps the old entries. */
  async reload(): Promise<{ ok: true; count: number; generation: number } | { ok: false; report: string }> {
    const next = this.#generation + 1;
    const r = await runPipeline(this.path, this.#env, next);
    if (!r.ok) return r;
    const before = new Map(this.#entries.map((e) => [this.keyOf(e), e]));
    const events: WatchEvent[] = [];
    for (const e of r.entries) {
      events.push({
        type: 'put',
        key: this.keyOf(e),
        value: encoder.encode(JSON.stringify(e.value)),
        revision: next,
      });
      before.delete(this.keyOf(e));
    }
    for (const key of before.keys()) events.push({ type: 'delete', key, revision: next });
    this.#generation = next;
    this.#entries = r.entries;
    this.#history.push(...events);
    for (const l of this.#listeners) l();
    return { ok: true, count: r.entries.length, generation: next };
  }

  keyOf(e: { kind: string; id: string }): string {
    return `${this.prefix}/${e.kind}/${e.id}`;
  }

  /** The file as a read-only store (the admin API's reads in file mode use `entries()`). */
  store(): ResourceStore {
    const toDoc = (e: FileEntry): StoredDoc => ({ id: e.id, value: e.value, revision: e.revision });
    const readOnly = (): Promise<WriteResult> =>
      Promise.reject(new StoreError('read_only', `resources are managed by the resources file ${this.path}`));
    return {
      get: async (kind, id) => {
        const e = this.#entries.find((x) => x.kind === kind && x.id === id);
        return e === undefined ? null : toDoc(e);
      },
      list: async (kind) =>
        this.#entries
          .filter((x) => x.kind === kind)
          .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .map(toDoc),
      create: readOnly,
      replace: readOnly,
      delete: readOnly,
      close: async () => {},
    };
  }

  /** The file as a config source: load = the current entries, watch = later reloads. */
  source(): ConfigSource {
    return {
      prefix: this.prefix,
      load: async (): Promise<LoadResult> => {
        const entries: RawEntry[] = this.#entries
          .map((e) => ({
            key: this.keyOf(e),
            value: encoder.encode(JSON.stringify(e.value)),
            revision: e.revision,
          }))
          .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        return { revision: this.#generation, entries };
      },
      watch: (fromRevision, onEvents, signal) =>
        new Promise<WatchEnd>((resolve) => {
          let sent = this.#history.findIndex((ev) => ev.revision >= fromRevision);
          if (sent < 0) sent = this.#history.length;
          const flush = (): void => {
            if (sent < this.#history.length) {
              const batch = this.#history.slice(sent);
              sent = this.#history.length;
              onEvents(batch);
            }
          };
          const stop = (): void => {
            this.#listeners.delete(flush);
            resolve({ reason: 'aborted' });
          };
          if (signal.aborted) return stop();
          signal.addEventListener('abort', stop, { once: true });
          this.#listeners.add(flush);
          flush();
        }),
      close: async () => {
        this.#listeners.clear();
      },
    };
  }
}
