/**
 * The builder's internal, immutable state and the copy-on-write draft that derives the next
 * one. A draft copies a map only the first time it touches it, so a put to one api key
 * copies the api-key maps and nothing else; a resync starts from an empty draft and fills
 * fresh maps. Leaves out: classification (`./classify.ts`) and status (`./status.ts`).
 */
import { type KindName, kindByName } from '../kinds.js';
import type { Classified } from './classify.js';
import { EMPTY_MAP, FrozenMap } from './frozen.js';
import { hashLine } from './hash.js';
import { LayeredMap, PendingMap } from './layered.js';
import type { Resource } from './types.js';

/** Observed or served bytes of a key; `line` memoises the hash contribution. */
export interface Blob {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
  line?: string | Uint8Array;
}

export function blobLine(b: Blob): string | Uint8Array {
  b.line ??= hashLine(b.key, b.value);
  return b.line;
}

/** Same hash contribution: equal bytes, or equal canonical JSON. */
export function sameBytes(a: Blob | undefined, b: Blob | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.key !== b.key) return false;
  if (Buffer.from(a.value).equals(b.value)) return true;
  const la = blobLine(a);
  const lb = blobLine(b);
  if (typeof la === 'string' && typeof lb === 'string') return la === lb;
  return Buffer.from(la).equals(Buffer.from(lb));
}

export interface Served {
  readonly blob: Blob;
  readonly resource: Resource;
  readonly unknownFields: readonly string[];
}

export interface KeyState {
  readonly obs: Blob;
  readonly verdict: Classified;
  /** What this key serves: the observed value, or a pinned last-good value when RED. */
  readonly served: Served | undefined;
  /** Only while `served` is a pinned last-good value (epoch ms). */
  readonly pinnedSince: number | undefined;
  /** Only while RED (epoch ms). */
  readonly rejectFirstSeen: number | undefined;
  readonly rejectLastSeen: number | undefined;
  /** Order of first observation; breaks ties between equally specific wildcard aliases. */
  readonly seq: number;
}

export interface WildcardEntry {
  readonly r: Resource<'models'>;
  /** Literal length of the alias (without the `*`): longer is more specific. */
  readonly lit: number;
  readonly seq: number;
}

export interface State {
  readonly loaded: boolean;
  readonly revision: number;
  /** Observed keys grouped by kind segment ('' for keys that do not parse). */
  readonly keys: ReadonlyMap<string, LayeredMap<string, KeyState>>;
  readonly byId: ReadonlyMap<KindName, LayeredMap<string, Resource>>;
  readonly names: ReadonlyMap<KindName, LayeredMap<string, Resource>>;
  readonly modelsByAlias: LayeredMap<string, Resource<'models'>>;
  /** Most specific first, ties by first seen. */
  readonly wildcard: readonly WildcardEntry[];
  readonly wildcardModels: readonly Resource<'models'>[];
  /** RED keys. */
  readonly rejected: LayeredMap<string, KeyState>;
  /** `kind \0 field` -> served resources carrying that unknown field. */
  readonly unknownFields: ReadonlyMap<string, number>;
  /** kind -> served resources with any unknown field. */
  readonly yellow: ReadonlyMap<string, number>;
  readonly applySeq: number;
  readonly appliedAt: number | null;
}

export const INITIAL_STATE: State = Object.freeze({
  loaded: false,
  revision: 0,
  keys: EMPTY_MAP,
  byId: EMPTY_MAP,
  names: EMPTY_MAP,
  modelsByAlias: LayeredMap.empty<string, Resource<'models'>>(),
  wildcard: Object.freeze([]),
  wildcardModels: Object.freeze([]),
  rejected: LayeredMap.empty<string, KeyState>(),
  unknownFields: EMPTY_MAP,
  yellow: EMPTY_MAP,
  applySeq: 0,
  appliedAt: null,
});

/** The field a kind is indexed by for `byName`; api keys by hash for caller lookup. */
export function nameFieldOf(kind: KindName): string | null {
  if (kind === 'api_keys') return 'key_hash';
  return kindByName(kind)?.nameField ?? null;
}

function nameOf(r: Resource): string | undefined {
  const field = nameFieldOf(r.kind);
  if (field === null) return undefined;
  const v = (r.value as Record<string, unknown>)[field];
  return typeof v === 'string' ? v : undefined;
}

/** Direct models have no routing/ensemble/semantic block; only they serve wildcard matches. */
export function isDirectModel(r: Resource<'models'>): boolean {
  const v = r.value as Record<string, unknown>;
  return v.routing === undefined && v.ensemble === undefined && v.semantic === undefined;
}

/** Literal length when `r` is a wildcard-capable model (direct, exactly one `*`), else undefined. */
function wildcardLiteral(r: Resource): number | undefined {
  if (r.kind !== 'models') return undefined;
  const alias = (r.value as Record<string, unknown>).display_name;
  if (typeof alias !== 'string') return undefined;
  const star = alias.indexOf('*');
  if (star === -1 || alias.indexOf('*', star + 1) !== -1) return undefined;
  return isDirectModel(r as Resource<'models'>) ? alias.length - 1 : undefined;
}

function pending<N, V>(
  cache: Map<N, PendingMap<string, V>>,
  outer: ReadonlyMap<N, LayeredMap<string, V>>,
  name: N,
): PendingMap<string, V> {
  let p = cache.get(name);
  if (p === undefined) {
    p = new PendingMap(outer.get(name) ?? LayeredMap.empty());
    cache.set(name, p);
  }
  return p;
}

function commitAll<N, V>(
  outer: ReadonlyMap<N, LayeredMap<string, V>>,
  cache: Map<N, PendingMap<string, V>>,
): ReadonlyMap<N, LayeredMap<string, V>> {
  if (cache.size === 0) return outer;
  const next = new FrozenMap(outer);
  for (const [name, p] of cache) next.set(name, p.commit());
  return next.seal();
}

/**
 * One builder step over `State`. Writes go to pending layers; `finish` commits them into new
 * versions of only the maps that were touched and shares everything else.
 */
export class Draft {
  readonly #base: State;
  readonly #keys = new Map<string, PendingMap<string, KeyState>>();
  readonly #byId = new Map<KindName, PendingMap<string, Resource>>();
  readonly #names = new Map<KindName, PendingMap<string, Resource>>();
  readonly #alias: PendingMap<string, Resource<'models'>>;
  readonly #rejected: PendingMap<string, KeyState>;
  #unknown: FrozenMap<string, number> | undefined;
  #yellow: FrozenMap<string, number> | undefined;
  /** Model ids whose wildcard entry may have changed. */
  readonly #wildTouched = new Map<string, Resource<'models'> | undefined>();

  constructor(base: State) {
    this.#base = base;
    this.#alias = new PendingMap(base.modelsByAlias);
    this.#rejected = new PendingMap(base.rejected);
  }

  /** Current value of a key (draft view). */
  keyState(bucket: string, key: string): KeyState | undefined {
    return this.#keys.get(bucket)?.get(key) ?? this.#base.keys.get(bucket)?.get(key);
  }

  setKey(bucket: string, key: string, next: KeyState | undefined): void {
    const m = pending(this.#keys, this.#base.keys, bucket);
    if (next === undefined) m.delete(key);
    else m.set(key, next);
    if (next !== undefined && !next.verdict.ok) this.#rejected.set(key, next);
    else if (this.#rejected.has(key)) this.#rejected.delete(key);
  }

  /** Swaps what a key serves, keeping every resource index in step. */
  setServed(prev: Served | undefined, next: Served | undefined): void {
    if (prev?.resource === next?.resource) return;
    const r = next?.resource ?? prev?.resource;
    if (r === undefined) return;
    const ids = pending(this.#byId, this.#base.byId, r.kind);
    if (prev !== undefined) this.#count(prev, -1);
    if (next === undefined) ids.delete(r.id);
    else ids.set(r.id, next.resource);
    if (next !== undefined) this.#count(next, +1);
    this.#reindexName(ids, prev?.resource, next?.resource);
    const wasWild = prev !== undefined && wildcardLiteral(prev.resource) !== undefined;
    const isWild = next !== undefined && wildcardLiteral(next.resource) !== undefined;
    if (wasWild || isWild) this.#wildTouched.set(r.id, next?.resource as Resource<'models'> | undefined);
  }

  #count(s: Served, sign: 1 | -1): void {
    if (s.unknownFields.length === 0) return;
    this.#unknown ??= new FrozenMap(this.#base.unknownFields);
    this.#yellow ??= new FrozenMap(this.#base.yellow);
    bump(this.#yellow, s.resource.kind, sign);
    for (const f of s.unknownFields) bump(this.#unknown, `${s.resource.kind}\u0000${f}`, sign);
  }

  #setName(names: PendingMap<string, Resource>, kind: KindName, name: string, r: Resource | undefined): void {
    if (r === undefined) names.delete(name);
    else names.set(name, r);
    // The alias index is the model name index minus names with a `*` (wildcards, literals with two).
    if (kind === 'models' && !name.includes('*')) {
      if (r === undefined) this.#alias.delete(name);
      else this.#alias.set(name, r as Resource<'models'>);
    }
  }

  #reindexName(
    ids: PendingMap<string, Resource>,
    prev: Resource | undefined,
    next: Resource | undefined,
  ): void {
    const kind = (next ?? prev)?.kind;
    if (kind === undefined || nameFieldOf(kind) === null) return;
    const names = pending(this.#names, this.#base.names, kind);
    const prevName = prev === undefined ? undefined : nameOf(prev);
    const nextName = next === undefined ? undefined : nameOf(next);
    if (nextName !== undefined) this.#setName(names, kind, nextName, next);
    if (prevName !== undefined && prevName !== nextName && names.get(prevName)?.id === prev?.id) {
      // The departing resource held the name; a duplicate (writers should avoid them) may
      // still carry it and takes over. O(kind size), only when a name holder goes away.
      let heir: Resource | undefined;
      for (const cand of ids.values()) if (nameOf(cand) === prevName) heir = cand;
      this.#setName(names, kind, prevName, heir);
    }
  }

  #wildcard(seqOf: (key: string) => number): readonly WildcardEntry[] {
    if (this.#wildTouched.size === 0) return this.#base.wildcard;
    const out = this.#base.wildcard.filter((w) => !this.#wildTouched.has(w.r.id));
    for (const r of this.#wildTouched.values()) {
      const lit = r === undefined ? undefined : wildcardLiteral(r);
      if (r !== undefined && lit !== undefined) out.push({ r, lit, seq: seqOf(r.key) });
    }
    out.sort((a, b) => b.lit - a.lit || a.seq - b.seq);
    return Object.freeze(out);
  }

  /** Commits every touched map and returns the next state. */
  finish(
    fields: Pick<State, 'loaded' | 'revision' | 'applySeq' | 'appliedAt'>,
    seqOf: (key: string) => number,
  ): State {
    const b = this.#base;
    const wildcard = this.#wildcard(seqOf);
    return Object.freeze({
      ...fields,
      keys: commitAll(b.keys, this.#keys),
      byId: commitAll(b.byId, this.#byId),
      names: commitAll(b.names, this.#names),
      modelsByAlias: this.#alias.commit(),
      wildcard,
      wildcardModels: wildcard === b.wildcard ? b.wildcardModels : Object.freeze(wildcard.map((w) => w.r)),
      rejected: this.#rejected.commit(),
      unknownFields: this.#unknown?.seal() ?? b.unknownFields,
      yellow: this.#yellow?.seal() ?? b.yellow,
    });
  }
}

function bump(m: Map<string, number>, k: string, by: number): void {
  const n = (m.get(k) ?? 0) + by;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
