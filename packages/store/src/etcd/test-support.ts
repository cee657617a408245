/**
 * Helpers for the etcd store's tests only (not exported from the package): a direct writer
 * and reader over etcd's JSON gateway that bypasses the code under test, and a poller.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { b64, int, prefixRangeEnd, unb64, utf8 } from './keys.js';

export async function etcdCall<T = Record<string, unknown>>(
  endpoint: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const res = await request(`${endpoint}${path}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  const text = await res.body.text();
  if (res.statusCode >= 400) throw new Error(`${path}: HTTP ${res.statusCode} ${text}`);
  return JSON.parse(text) as T;
}

/** Put; returns the revision of the write. */
export async function etcdPut(endpoint: string, key: string, value: string): Promise<number> {
  const r = await etcdCall<{ header: { revision: string } }>(endpoint, '/v3/kv/put', {
    key: b64(key),
    value: b64(value),
  });
  return int(r.header.revision);
}

export async function etcdDelete(endpoint: string, key: string): Promise<number> {
  const r = await etcdCall<{ header: { revision: string } }>(endpoint, '/v3/kv/deleterange', {
    key: b64(key),
  });
  return int(r.header.revision);
}

export async function etcdCompact(endpoint: string, revision: number): Promise<void> {
  await etcdCall(endpoint, '/v3/kv/compaction', { revision: String(revision), physical: true });
}

export interface Row {
  value: string;
  revision: number;
}

/** Everything under `prefix` (a full key prefix, e.g. `/t-x/`) as key → {value, mod_revision}. */
export async function etcdRange(
  endpoint: string,
  prefix: string,
): Promise<{ revision: number; rows: Map<string, Row> }> {
  const key = utf8(prefix);
  const r = await etcdCall<{
    header: { revision: string };
    kvs?: { key: string; value?: string; mod_revision: string }[];
  }>(endpoint, '/v3/kv/range', { key: b64(key), range_end: b64(prefixRangeEnd(key)) });
  const rows = new Map<string, Row>();
  for (const kv of r.kvs ?? []) {
    rows.set(unb64(kv.key).toString('utf8'), {
      value: unb64(kv.value).toString('utf8'),
      revision: int(kv.mod_revision),
    });
  }
  return { revision: int(r.header.revision), rows };
}

export async function currentRevision(endpoint: string): Promise<number> {
  const r = await etcdCall<{ header: { revision: string } }>(endpoint, '/v3/kv/range', { key: b64('\0') });
  return int(r.header.revision);
}

/** Polls `check` until it returns true or the deadline passes; returns whether it did. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(25);
  }
  return check();
}
