/**
 * Reads every resource document under an etcd prefix for `aisix export --etcd` (contract
 * §5.5: plain connection, 3 attempts 1 s apart). Keys and values go through the same key
 * parser as the gateway loader; a key or value it would reject (RED: bad key, unknown kind,
 * not a JSON document) is skipped and reported, not exported. Documents are decoded later,
 * by export itself, as the gateway decodes them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseKey } from '@aisix/core';
import { createEtcdStore, type LoadResult } from '@aisix/store';
import type { LiveEntry } from './admin-client.js';
import { FILE_KINDS } from './identity.js';

const ATTEMPTS = 3;

/** A stored key left out: `kind/id` (or `key <key>` when it names no resource) and why. */
export interface Skipped {
  readonly what: string;
  readonly why: string;
}

export async function readEtcd(
  endpoints: string[],
  prefix: string,
): Promise<{ entries: LiveEntry[]; skipped: Skipped[] }> {
  const etcd = createEtcdStore({ endpoints, prefix, dialTimeoutMs: 3000, requestTimeoutMs: 5000 });
  let loaded: LoadResult | undefined;
  let lastError: unknown;
  try {
    for (let attempt = 1; attempt <= ATTEMPTS && loaded === undefined; attempt++) {
      try {
        loaded = await etcd.source.load(AbortSignal.timeout(10_000));
      } catch (err) {
        lastError = err;
        if (attempt < ATTEMPTS) await sleep(1000);
      }
    }
  } finally {
    await etcd.close();
  }
  if (loaded === undefined) {
    const why = lastError instanceof Error ? lastError.message : String(lastError);
    throw new Error(`cannot read etcd at ${endpoints.join(',')} after ${ATTEMPTS} attempts: ${why}`);
  }
  const entries: LiveEntry[] = [];
  const skipped: Skipped[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const raw of loaded.entries) {
    const key = parseKey(prefix, raw.key);
    if (!key.ok) {
      skipped.push({
        what: `key ${raw.key}`,
        why: key.errorKind === 'unknown_kind' ? 'unknown kind' : 'not a resource key',
      });
      continue;
    }
    if (!FILE_KINDS.includes(key.kind)) {
      // Not decoded: a resources file cannot express the kind; export only counts them.
      entries.push({ kind: key.kind, id: key.id, value: {}, revision: raw.revision });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(raw.value));
    } catch {
      skipped.push({ what: `${key.kind}/${key.id}`, why: 'the value is not JSON' });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      skipped.push({ what: `${key.kind}/${key.id}`, why: 'the value is not a JSON object' });
      continue;
    }
    entries.push({
      kind: key.kind,
      id: key.id,
      value: value as Record<string, unknown>,
      revision: raw.revision,
    });
  }
  return { entries, skipped };
}
