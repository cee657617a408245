/**
 * Caller-key rotation with a grace window, on the gateway side: a hash listed in an api key's
 * `previous_keys` authenticates as that key (same resource, so the same id for limits) until
 * its absolute `expires_at`, and not one millisecond after; the snapshot's current hashes win.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { SnapshotBuilder } from '@aisix/core';
import { authenticate, lookupKey } from './auth.js';

const P = '/aisix';
const sha = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const enc = new TextEncoder();
const entry = (id: string, doc: unknown, revision: number) => ({
  key: `${P}/api_keys/${id}`,
  value: enc.encode(JSON.stringify(doc)),
  revision,
});
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const END = Date.UTC(2026, 11, 6, 12, 0, 0);

describe('auth: previous keys in a grace window', () => {
  const b = new SnapshotBuilder({ prefix: P });
  const snap = b.resync(
    [
      entry(
        'k1',
        {
          key_hash: sha('sk-new'),
          allowed_models: ['*'],
          previous_keys: [
            { key_hash: sha('sk-old'), expires_at: new Date(END).toISOString() },
            { key_hash: sha('sk-older'), expires_at: new Date(END - 60_000).toISOString() },
          ],
        },
        1,
      ),
      entry('k2', { key_hash: sha('sk-other'), allowed_models: ['*'] }, 2),
    ],
    2,
  );

  it('the old key authenticates as the same api key until the end instant, then never', () => {
    const before = authenticate(bearer('sk-old'), snap, END - 1);
    assert.ok(before.ok);
    assert.equal(before.key.id, 'k1');
    const atEnd = authenticate(bearer('sk-old'), snap, END);
    assert.ok(atEnd.ok);
    const after = authenticate(bearer('sk-old'), snap, END + 1);
    assert.equal(after.ok, false);
    assert.equal(after.ok ? '' : after.reason, 'unknown_key');
    // Each previous key has its own end.
    assert.equal(lookupKey(snap, sha('sk-older'), END - 60_001)?.id, 'k1');
    assert.equal(lookupKey(snap, sha('sk-older'), END - 59_999), undefined);
    // The new key is unaffected by the window.
    assert.equal(lookupKey(snap, sha('sk-new'), END + 86_400_000)?.id, 'k1');
  });

  it('disabled and expired keys refuse their previous keys too', () => {
    const s = b.put(
      entry(
        'k1',
        {
          key_hash: sha('sk-new'),
          allowed_models: ['*'],
          disabled: true,
          previous_keys: [{ key_hash: sha('sk-old'), expires_at: new Date(END).toISOString() }],
        },
        3,
      ),
    );
    const r = authenticate(bearer('sk-old'), s, END - 1);
    assert.equal(r.ok ? '' : r.reason, 'key_disabled');
  });

  it('a current hash of another key wins over a previous-key entry', () => {
    const s = b.put(
      entry(
        'k1',
        {
          key_hash: sha('sk-new'),
          allowed_models: ['*'],
          previous_keys: [{ key_hash: sha('sk-other'), expires_at: new Date(END).toISOString() }],
        },
        4,
      ),
    );
    assert.equal(lookupKey(s, sha('sk-other'), END - 1)?.id, 'k2');
  });

  it('an update that drops previous_keys ends the window at once', () => {
    const s = b.put(entry('k1', { key_hash: sha('sk-new'), allowed_models: ['*'] }, 5));
    assert.equal(lookupKey(s, sha('sk-old'), END - 1), undefined);
  });
});
