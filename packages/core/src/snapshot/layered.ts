/**
 * A persistent-ish read-only map: a large shared base plus a small delta of changes. A new
 * version copies only the delta, and folds the delta into a fresh base once it outgrows
 * about √n entries, so one put into a 100k-entry kind costs O(√n) amortised instead of a
 * full copy. Bases and deltas are never mutated once a version is published: old versions
 * held by in-flight requests stay valid. Lookups cost at most two hash probes.
 * Leaves out: ordering guarantees beyond Map's (updates keep their position, new keys go last).
 */

const GONE: unique symbol = Symbol('deleted');
type Slot<V> = V | typeof GONE;

/** Pending changes for `LayeredMap.with`: a value to set, or `undefined` to delete. */
export type Changes<K, V> = ReadonlyMap<K, V | undefined>;

export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  readonly #base: ReadonlyMap<K, V>;
  readonly #delta: ReadonlyMap<K, Slot<V>>;
  readonly size: number;

  private constructor(base: ReadonlyMap<K, V>, delta: ReadonlyMap<K, Slot<V>>, size: number) {
    this.#base = base;
    this.#delta = delta;
    this.size = size;
    Object.freeze(this);
  }

  static empty<K, V>(): LayeredMap<K, V> {
    return EMPTY as LayeredMap<K, V>;
  }

  /** Takes ownership of `entries`: the caller must not touch the map afterwards. */
  static adopt<K, V>(entries: Map<K, V>): LayeredMap<K, V> {
    return new LayeredMap(entries, new Map(), entries.size);
  }

  get(key: K): V | undefined {
    const d = this.#delta.get(key);
    if (d !== undefined) return d === GONE ? undefined : d;
    return this.#base.get(key);
  }

  has(key: K): boolean {
    const d = this.#delta.get(key);
    if (d !== undefined) return d !== GONE;
    return this.#base.has(key);
  }

  /** A new version with `changes` applied; this one is unchanged. */
  with(changes: Changes<K, V>): LayeredMap<K, V> {
    if (changes.size === 0) return this;
    let size = this.size;
    for (const [k, v] of changes) {
      const had = this.has(k);
      if (v === undefined && had) size--;
      else if (v !== undefined && !had) size++;
    }
    if (this.#base.size === 0 && this.#delta.size === 0) {
      const fresh = new Map<K, V>();
      for (const [k, v] of changes) if (v !== undefined) fresh.set(k, v);
      return new LayeredMap(fresh, EMPTY_DELTA as ReadonlyMap<K, Slot<V>>, size);
    }
    const delta = new Map(this.#delta);
    for (const [k, v] of changes) {
      if (v !== undefined) delta.set(k, v);
      else if (this.#base.has(k)) delta.set(k, GONE);
      else delta.delete(k);
    }
    if (delta.size <= Math.max(32, Math.sqrt(this.#base.size)))
      return new LayeredMap(this.#base, delta, size);
    const merged = new Map(this.#base);
    for (const [k, v] of delta) {
      if (v === GONE) merged.delete(k);
      else merged.set(k, v);
    }
    return new LayeredMap(merged, EMPTY_DELTA as ReadonlyMap<K, Slot<V>>, size);
  }

  *entries(): MapIterator<[K, V]> {
    const delta = this.#delta;
    if (delta.size === 0) {
      yield* this.#base.entries();
      return;
    }
    for (const [k, v] of this.#base) {
      const d = delta.get(k);
      if (d === undefined) yield [k, v];
      else if (d !== GONE) yield [k, d];
    }
    for (const [k, d] of delta) if (d !== GONE && !this.#base.has(k)) yield [k, d];
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(cb: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
}

const EMPTY_DELTA: ReadonlyMap<unknown, unknown> = new Map();
const EMPTY = LayeredMap.adopt<unknown, unknown>(new Map());

/**
 * A mutable working copy over a `LayeredMap` for one builder step: reads see the pending
 * changes, `commit` produces the next version.
 */
export class PendingMap<K, V> {
  readonly #base: LayeredMap<K, V>;
  readonly #changes = new Map<K, V | undefined>();

  constructor(base: LayeredMap<K, V>) {
    this.#base = base;
  }

  get(key: K): V | undefined {
    return this.#changes.has(key) ? this.#changes.get(key) : this.#base.get(key);
  }

  has(key: K): boolean {
    return this.get(key) !== undefined;
  }

  set(key: K, value: V): void {
    this.#changes.set(key, value);
  }

  delete(key: K): void {
    this.#changes.set(key, undefined);
  }

  *values(): Generator<V> {
    for (const [k, v] of this.#base) if (!this.#changes.has(k)) yield v;
    for (const v of this.#changes.values()) if (v !== undefined) yield v;
  }

  /** The next version. The pending map must not be used afterwards (its storage may be adopted). */
  commit(): LayeredMap<K, V> {
    // A full rebuild starts from an empty base: hand the change map over instead of copying it.
    if (this.#base.size === 0) {
      let allSet = true;
      for (const v of this.#changes.values()) if (v === undefined) allSet = false;
      if (allSet) return LayeredMap.adopt(this.#changes as Map<K, V>);
    }
    return this.#base.with(this.#changes);
  }
}
