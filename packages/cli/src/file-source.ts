/**
 * The resources-file source (`resources_file` in config.yaml): the file is loaded through
 * core's pipeline at boot, and again on every `reload()` (SIGHUP). A reload that fails keeps
 * the previous entries and returns the report plus a `SourceRejection` for the config sync
 * (`/status/config` turns `out_of_sync` with one `rejected[]` row per error); one that
 * succeeds swaps all entries at once under a new generation (the entries' `revision`).
 *
 * To the rest of the process the file looks like a store: a read-only `ResourceStore`
 * (writes fail `read_only`; the admin API answers 409 before it gets there) and a
 * `ConfigSource` whose watch ends (`closed`) after each successful reload, so the config
 * sync re-loads and swaps the whole snapshot at once, counted as one reload: the sync and
 * the snapshot builder are the same code as for etcd. `hashOf(generation)` is the SHA-256 of
 * the file bytes of that generation (the file-mode `source_hash` / `config_hash`).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type KindName, loadResourcesFile } from '@aisix/core';
import {
  type ConfigSource,
  type LoadResult,
  type RawEntry,
  type ReloadFailureReason,
  type ResourceStore,
  type SourceRejection,
  type StoredDoc,
  StoreError,
  type WatchEnd,
  type WriteResult,
} from '@aisix/store/local';

export interface FileEntry {
  readonly kind: KindName;
  readonly id: string;
  readonly value: Record<string, unknown>;
  readonly revision: number;
}

interface LoadFailure {
  readonly ok: false;
  /** The report as the CLI prints it (`resources file <path>: <n> error(s): ...`). */
  readonly report: string;
  readonly reason: ReloadFailureReason;
  /** The report's lines, `<scope>: <message>`. */
  readonly errors: readonly string[];
  /** SHA-256 of the rejected bytes; absent when the file could not be read. */
  readonly hash?: string;
}

type LoadOutcome = { ok: true; entries: FileEntry[]; hash: string } | LoadFailure;

const encoder = new TextEncoder();

/**
 * Messages of core's YAML stage (`resources-file/yaml-doc.ts`). That stage fails on its own,
 * before any format or entry check, so one such line makes the whole failure a `parse`.
 */
const PARSE_STAGE =
  /^\(file\): (?:the file is empty|the file holds \d+ YAML documents|invalid YAML(?: at line \d+, column \d+)?: |YAML aliases are not allowed|mapping keys must be strings)/;

/** `<kind>[<i>] ("<identity>"): ...` or `<kind>[<i>]: ...`; `(file): ...` matches neither. */
const ENTRY_SCOPE = /^([a-z0-9_]+)\[\d+\](?: \("(.*?)"\))?: /s;

/** One `rejected[]` row per report line: the entry's kind and identity, empty for `(file)`. */
export function rejectionRows(errors: readonly string[]): SourceRejection['errors'] {
  return errors.map((line) => {
    const m = ENTRY_SCOPE.exec(line);
    return { resource_kind: m?.[1] ?? '', resource_id: m?.[2] ?? '', message: line };
  });
}

async function runPipeline(path: string, env: NodeJS.ProcessEnv, revision: number): Promise<LoadOutcome> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    const line = `(file): cannot read file: ${code}`;
    return {
      ok: false,
      reason: 'fetch',
      errors: [line],
      report: `resources file ${path}: 1 error(s):\n  - ${line}`,
    };
  }
  const hash = createHash('sha256').update(bytes).digest('hex');
  const r = loadResourcesFile({ text: bytes.toString('utf8'), path, env: { ...env } });
  if (!r.ok) {
    const reason = r.errors.some((e) => PARSE_STAGE.test(e)) ? 'parse' : 'validate';
    return { ok: false, reason, errors: r.errors, report: r.report, hash };
  }
  return {
    ok: true,
    hash,
    entries: r.entries.map((e) => ({ kind: e.kind as KindName, id: e.id, value: e.value, revision })),
  };
}

/** How many generations' hashes are kept (the sync reads the one it applies, usually the latest). */
const HASHES_KEPT = 4;

export class FileResources {
  readonly path: string;
  readonly prefix: string;
  readonly #env: NodeJS.ProcessEnv;
  #entries: FileEntry[] = [];
  #generation = 0;
  /** SHA-256 of the file bytes by generation (the last few). */
  readonly #hashes = new Map<number, string>();
  /** Open watches: each ends at the next successful reload. */
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
    if (!r.ok) return { ok: false, report: r.report };
    res.#generation = 1;
    res.#entries = r.entries;
    res.#hashes.set(1, r.hash);
    return { ok: true, resources: res };
  }

  get generation(): number {
    return this.#generation;
  }

  /** SHA-256 (hex) of the file bytes loaded as `generation`, if still known. */
  hashOf(generation: number): string | undefined {
    return this.#hashes.get(generation);
  }

  entries(): readonly FileEntry[] {
    return this.#entries;
  }

  /**
   * Re-runs the whole pipeline. Any error rejects the whole file and keeps the old entries;
   * the failure carries the report (for the log) and the rejection (for the config sync).
   */
  async reload(): Promise<
    | { ok: true; count: number; generation: number }
    | { ok: false; report: string; rejection: SourceRejection }
  > {
    const current = this.#generation;
    const r = await runPipeline(this.path, this.#env, current + 1);
    if (!r.ok) {
      // A reload that overlapped a successful one still reports against what is in force.
      const rejection: SourceRejection = {
        reason: r.reason,
        message: r.report,
        errors: rejectionRows(r.errors),
        revision: this.#generation,
        ...(r.hash !== undefined ? { sourceHash: r.hash } : {}),
      };
      return { ok: false, report: r.report, rejection };
    }
    // Two overlapping reloads: the later one to finish wins, under a fresh generation.
    const next = Math.max(current, this.#generation) + 1;
    this.#generation = next;
    this.#entries = r.entries.map((e) => (e.revision === next ? e : { ...e, revision: next }));
    this.#hashes.set(next, r.hash);
    this.#hashes.delete(next - HASHES_KEPT);
    for (const l of [...this.#listeners]) l();
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
      // No events: a successful reload ends the watch (`closed`), and the sync's next cycle
      // loads the new generation whole, so a reload swaps one complete snapshot.
      watch: (fromRevision, _onEvents, signal) =>
        new Promise<WatchEnd>((resolve) => {
          const end = (reason: 'closed' | 'aborted'): void => {
            this.#listeners.delete(onReload);
            signal.removeEventListener('abort', onAbort);
            resolve({ reason });
          };
          const onReload = (): void => end('closed');
          const onAbort = (): void => end('aborted');
          if (signal.aborted) return end('aborted');
          if (this.#generation >= fromRevision) return end('closed');
          signal.addEventListener('abort', onAbort, { once: true });
          this.#listeners.add(onReload);
        }),
      close: async () => {
        this.#listeners.clear();
      },
    };
  }
}
