/**
 * The execution order of a plan. The base order is the dependency order (`writeOrder`):
 * creates and updates with every entry after what it references, then deletes in the reverse
 * order. Two kinds of constraints then pull a step forward, just before the step that needs it
 * (with whatever that step needs in turn, and never past what it references):
 *
 *  - references: a create or update runs after the creates and updates of what its new document
 *    references; a delete runs after the updates and deletes of the entries whose live document
 *    references it (so nothing is deleted while something still refers to it). A model alias
 *    resolves as the Admin API resolves it: an exact name, else a wildcard model matching it
 *    (a live cluster can hold such references; a file's aliases are exact names);
 *  - unique values the Admin API holds one entry to (409 otherwise): an api key's `key_hash`
 *    (and the hashes of its `previous_keys`), its `(jwt_provider, jwt_subject)` pair, an enabled
 *    OIDC provider's `issuer`. The step that frees such a value (a delete, an update that
 *    changes or drops it, an update that disables the provider) runs before the step that takes
 *    it, unless that would contradict a reference (a cycle: then the base order stands, and the
 *    Admin API's 409 stops apply with both entries named).
 *
 * Ties keep the base order, so the order is deterministic.
 */
import { type KindName, wildcardCapture } from '@aisix/core';
import { identityOf } from './identity.js';
import { type Doc, dependencies, type Ref } from './refs.js';

/** What ordering reads of a plan's step (`plan.ts` `Step`). */
export interface OrderedStep {
  readonly op: 'create' | 'update' | 'delete';
  readonly kind: KindName;
}

/** A step with the documents it turns into each other. */
export interface Planned<S extends OrderedStep = OrderedStep> {
  readonly step: S;
  /** The file's document and id (create, update). */
  readonly desired?: { readonly id: string; readonly doc: Doc };
  /** The live document and id (update, delete). */
  readonly live?: { readonly id: string; readonly doc: Doc };
}

const isRecord = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The values of `doc` no other entry of its kind may hold. */
export function uniqueValues(kind: KindName, doc: Doc): Set<string> {
  const out = new Set<string>();
  if (kind === 'api_keys') {
    if (typeof doc.key_hash === 'string') out.add(`hash\u0000${doc.key_hash}`);
    const previous = doc.previous_keys;
    if (Array.isArray(previous)) {
      for (const p of previous)
        if (isRecord(p) && typeof p.key_hash === 'string') out.add(`hash\u0000${p.key_hash}`);
    }
    if (typeof doc.jwt_provider === 'string' && typeof doc.jwt_subject === 'string') {
      out.add(`jwt\u0000${doc.jwt_provider}\u0000${doc.jwt_subject}`);
    }
  } else if (kind === 'oidc_providers' && doc.enabled !== false && typeof doc.issuer === 'string') {
    out.add(`issuer\u0000${doc.issuer}`);
  }
  return out;
}

/** Entries of one id space (the file's derived ids, or the live ids), for resolving references. */
class Space<P extends Planned> {
  readonly #byId = new Map<string, P>();
  readonly #byName = new Map<string, P>();
  readonly #patterns: { pattern: string; item: P }[] = [];

  constructor(items: readonly P[], side: 'desired' | 'live') {
    for (const item of items) {
      const at = item[side];
      if (at === undefined) continue;
      const kind = item.step.kind;
      this.#byId.set(`${kind}/${at.id}`, item);
      const name = identityOf(kind, at.doc);
      if (name === undefined) continue;
      this.#byName.set(`${kind}/${name}`, item);
      if (kind === 'models' && name.includes('*')) this.#patterns.push({ pattern: name, item });
    }
  }

  /** The entries `ref` can resolve to (a model alias: by exact name, else by wildcard alias). */
  resolve(ref: Ref): P[] {
    const key = `${ref.kind}/${ref.value}`;
    const hit = ref.by === 'id' ? this.#byId.get(key) : this.#byName.get(key);
    if (hit !== undefined) return [hit];
    if (ref.by !== 'name' || ref.kind !== 'models') return [];
    return this.#patterns.filter((p) => wildcardCapture(p.pattern, ref.value) !== null).map((p) => p.item);
  }
}

/** `base` (in dependency order) reordered so that every step runs after the steps it needs. */
export function orderSteps<S extends OrderedStep>(base: readonly Planned<S>[]): S[] {
  type P = Planned<S>;
  const index = new Map(base.map((x, i) => [x, i]));
  const needs = new Map<P, Set<P>>(base.map((x) => [x, new Set()]));
  const need = (x: P, first: P) => {
    if (x !== first) needs.get(x)?.add(first);
  };

  const desired = new Space(base, 'desired');
  const live = new Space(base, 'live');
  for (const x of base) {
    if (x.desired !== undefined) {
      for (const ref of dependencies(x.step.kind, x.desired.doc)) {
        for (const y of desired.resolve(ref)) need(x, y);
      }
    }
    if (x.live !== undefined) {
      for (const ref of dependencies(x.step.kind, x.live.doc)) {
        for (const y of live.resolve(ref)) if (y.step.op === 'delete') need(y, x);
      }
    }
  }

  /** Whether `from` needs `to`, directly or through other steps. */
  const reaches = (from: P, to: P): boolean => {
    const seen = new Set<P>();
    const stack = [from];
    for (let x = stack.pop(); x !== undefined; x = stack.pop()) {
      if (x === to) return true;
      if (seen.has(x)) continue;
      seen.add(x);
      stack.push(...(needs.get(x) ?? []));
    }
    return false;
  };
  const frees = new Map<string, P[]>();
  const takes: { value: string; item: P }[] = [];
  for (const x of base) {
    const kind = x.step.kind;
    const before = x.live ? uniqueValues(kind, x.live.doc) : new Set<string>();
    const after = x.desired ? uniqueValues(kind, x.desired.doc) : new Set<string>();
    for (const v of before)
      if (!after.has(v)) frees.set(`${kind}/${v}`, [...(frees.get(`${kind}/${v}`) ?? []), x]);
    for (const v of after) if (!before.has(v)) takes.push({ value: `${kind}/${v}`, item: x });
  }
  for (const { value, item } of takes) {
    for (const f of frees.get(value) ?? []) if (!reaches(f, item)) need(item, f);
  }

  const out: S[] = [];
  const state = new Map<P, 'visiting' | 'done'>();
  const byBase = (a: P, b: P) => (index.get(a) ?? 0) - (index.get(b) ?? 0);
  const visit = (x: P): void => {
    if (state.has(x)) return; // done, or a reference cycle (its members keep the base order)
    state.set(x, 'visiting');
    for (const y of [...(needs.get(x) ?? [])].sort(byBase)) visit(y);
    state.set(x, 'done');
    out.push(x.step);
  };
  for (const x of base) visit(x);
  return out;
}
