/**
 * Shared helpers for the snapshot tests: raw entries as the store would hand them over,
 * minimal valid documents per kind, and a settable clock.
 */
import type { ObservedEntry } from './types.js';

export const P = '/aisix';
export const T0 = Date.UTC(2026, 7, 11, 10, 0, 0);

const enc = new TextEncoder();

/** An entry whose value is `doc` serialised as JSON, or the given string / bytes verbatim. */
export function entry(key: string, doc: unknown, revision = 1): ObservedEntry {
  let value: Uint8Array;
  if (doc instanceof Uint8Array) value = doc;
  else if (typeof doc === 'string') value = enc.encode(doc);
  else value = enc.encode(JSON.stringify(doc));
  return { key, value, revision };
}

export function model(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { display_name: name, provider: 'openai', model_name: 'gpt-4o', provider_key_id: 'pk1', ...extra };
}

export function apiKey(hash: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { key_hash: hash, allowed_models: ['*'], ...extra };
}

export function providerKey(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { display_name: name, api_key: 'sk-test', ...extra };
}

/** A 64-char lowercase hex string derived from n (a valid key_hash). */
export function hashOf(n: number): string {
  return n.toString(16).padStart(64, '0');
}

export function clock(start = T0): { now: () => number; advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
    set(ms) {
      t = ms;
    },
  };
}
