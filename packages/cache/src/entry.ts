/**
 * Rules every store applies the same way, kept in one place so the memory and Redis backends
 * cannot drift: the per-entry size cap (measured on the body's UTF-8 bytes, what a caller
 * receives) and which TTLs are storable.
 */
import type { CacheEntry } from './types.js';

/** Default per-entry cap: bodies above 1 MiB are not cached (one huge answer must not evict thousands). */
export const DEFAULT_MAX_ENTRY_BYTES = 1024 * 1024;

/** UTF-8 size of the body (native, no copy). */
export const bodyBytes = (entry: CacheEntry): number => Buffer.byteLength(entry.body, 'utf8');

/** TTL in ms when storable (finite and > 0), else undefined: the store then resolves without storing. */
export function ttlMs(ttlSecs: number): number | undefined {
  if (!Number.isFinite(ttlSecs) || ttlSecs <= 0) return undefined;
  return Math.max(1, Math.round(ttlSecs * 1000));
}

/**
 * Whole seconds left, rounded down: the semantic back-fill caps a new entry's TTL with it, and
 * rounding up would let a copy outlive its source.
 */
export const secsLeft = (msLeft: number): number => Math.max(0, Math.floor(msLeft / 1000));
