/**
 * The on-disk snapshot cache: the raw entries the gateway last observed (and the pinned
 * last-known-good values), so a restart while the store is unreachable still serves the
 * last configuration. Written as tmp + fsync + rename, so a crash mid-write leaves either
 * the old file or the new one, never a torn one. Reading is forgiving: a missing, corrupt
 * or other-version file is simply no cache. Leaves out: when to write and what to do with
 * a write error (config-sync decides; a cache failure must never disturb the watch path).
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ObservedEntry, StaleEntry } from '@aisix/core';

export interface SnapshotCacheData {
  readonly revision: number;
  readonly entries: readonly ObservedEntry[];
  readonly stale: readonly StaleEntry[];
}

const VERSION = 1;

/** Serialises and atomically replaces the cache file. Rejects on I/O errors (the caller logs). */
export async function writeSnapshotCache(path: string, data: SnapshotCacheData): Promise<void> {
  const body = JSON.stringify({
    version: VERSION,
    revision: data.revision,
    entries: data.entries.map((e) => ({ key: e.key, value_b64: b64(e.value), revision: e.revision })),
    stale: data.stale.map((s) => ({
      key: s.key,
      value_b64: b64(s.value),
      revision: s.revision,
      since_unix_secs: s.sinceUnixSecs,
    })),
  });
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(body, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await syncDir(dirname(path));
}

/** Makes the rename itself durable; best effort (not every platform can fsync a directory). */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // ignore: the data is already synced; only the directory entry may lag.
  }
}

function b64(v: Uint8Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function unb64(s: unknown): Uint8Array | undefined {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !B64.test(s)) return undefined;
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function isRevision(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function readEntry(x: unknown): ObservedEntry | undefined {
  if (x === null || typeof x !== 'object') return undefined;
  const o = x as Record<string, unknown>;
  const value = unb64(o.value_b64);
  if (typeof o.key !== 'string' || value === undefined || !isRevision(o.revision)) return undefined;
  return { key: o.key, value, revision: o.revision };
}

/** The cached data, or null when there is no usable cache (missing, unreadable, corrupt, other version). */
export async function readSnapshotCache(path: string): Promise<SnapshotCacheData | null> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return null;
  }
  if (doc === null || typeof doc !== 'object') return null;
  const o = doc as Record<string, unknown>;
  if (o.version !== VERSION || !isRevision(o.revision) || !Array.isArray(o.entries)) return null;
  const staleIn = o.stale ?? [];
  if (!Array.isArray(staleIn)) return null;
  const entries: ObservedEntry[] = [];
  for (const x of o.entries) {
    const e = readEntry(x);
    if (e === undefined) return null;
    entries.push(e);
  }
  const stale: StaleEntry[] = [];
  for (const x of staleIn) {
    const e = readEntry(x);
    const since = (x as Record<string, unknown> | null)?.since_unix_secs;
    if (e === undefined || !isRevision(since)) return null;
    stale.push({ ...e, sinceUnixSecs: since });
  }
  return { revision: o.revision, entries, stale };
}
