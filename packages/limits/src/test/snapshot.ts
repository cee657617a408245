/**
 * Test snapshots built with core's real SnapshotBuilder from store-shaped documents (the same
 * path etcd data takes, lenient validation included), so the planner is tested against the
 * frozen resources the gateway will hand it.
 */
import { createHash } from 'node:crypto';
import { type ConfigSnapshot, SnapshotBuilder } from '@aisix/core';

export type Docs = Partial<
  Record<
    'models' | 'api_keys' | 'provider_keys' | 'rate_limit_policies',
    Record<string, Record<string, unknown>>
  >
>;

export const keyHash = (s: string) => createHash('sha256').update(s).digest('hex');

/** A caller key document (hash derived from the id). */
export function apiKey(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { key_hash: keyHash(id), allowed_models: ['*'], ...extra };
}

/** A direct model document. */
export function direct(alias: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { display_name: alias, provider: 'openai', model_name: alias, provider_key_id: 'pk1', ...extra };
}

export function buildSnapshot(docs: Docs, revision = 1): ConfigSnapshot {
  const enc = new TextEncoder();
  const entries = [];
  for (const [kind, byId] of Object.entries(docs)) {
    for (const [id, doc] of Object.entries(byId ?? {})) {
      entries.push({ key: `/aisix/${kind}/${id}`, value: enc.encode(JSON.stringify(doc)), revision });
    }
  }
  const snap = new SnapshotBuilder({ prefix: '/aisix' }).resync(entries, revision);
  if (snap.status.rejected.length > 0)
    throw new Error(`fixture rejected: ${JSON.stringify(snap.status.rejected)}`);
  return snap;
}
