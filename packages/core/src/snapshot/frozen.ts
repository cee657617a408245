/**
 * Read-only containers for published snapshots. A snapshot is shared by every in-flight
 * request and by the next snapshot (copy-on-write), so one accidental `set` from gateway
 * code would corrupt config for everybody; these make that a loud error instead.
 */

/** A Map that refuses writes once sealed. Built unsealed, filled, then sealed before publishing. */
export class FrozenMap<K, V> extends Map<K, V> {
  #sealed = false;

  // Filling through `super.set` here, not `super(entries)`: Map's constructor would call the
  // overridden `set` before the private field exists.
  constructor(entries?: Iterable<readonly [K, V]>) {
    super();
    if (entries !== undefined) for (const [k, v] of entries) super.set(k, v);
  }

  seal(): this {
    this.#sealed = true;
    return this;
  }

  override set(key: K, value: V): this {
    if (this.#sealed) throw new TypeError('snapshot maps are read-only');
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    if (this.#sealed) throw new TypeError('snapshot maps are read-only');
    return super.delete(key);
  }

  override clear(): void {
    if (this.#sealed) throw new TypeError('snapshot maps are read-only');
    super.clear();
  }
}

export const EMPTY_MAP: ReadonlyMap<never, never> = new FrozenMap<never, never>().seal();

/** Deep-freezes a parsed JSON document (plain objects and arrays only). */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
