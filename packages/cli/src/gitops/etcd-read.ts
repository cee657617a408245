/**
 * Reads every resource document under an etcd prefix for `aisix export --etcd` (contract
 * §5.5: plain connection, 3 attempts 1 s apart). Keys and values go through the same key
 * parser as the gateway loader; what it would reject is reported, not exported.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseKey } from '@aisix/core';
import { createEtcdStore, type LoadResult } from '@aisix/store';
import type { LiveEntry } from './admin-client.js';

const ATTEMPTS = 3;

export async function readEtcd(
  endpoints: string[],
  prefix: string,
): Promise<{ entries: LiveEntry[]; notes: string[] }> {
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
  const notes: string[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const raw of loaded.entries) {
    const key = parseKey(prefix, raw.key);
    if (!key.ok) {
      notes.push(
        `skipped key ${raw.key}: ${key.errorKind === 'unknown_kind' ? 'unknown kind' : 'not a resource key'}`,
      );
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(raw.value));
    } catch {
      notes.push(`skipped key ${raw.key}: the value is not JSON`);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      notes.push(`skipped key ${raw.key}: the value is not a JSON object`);
      continue;
    }
    entries.push({
      kind: key.kind,
      id: key.id,
      value: value as Record<string, unknown>,
      revision: raw.revision,
    });
  }
  return { entries, notes };
}
