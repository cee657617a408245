/**
 * The plan of `aisix diff` / `aisix apply`: the file's entries (derived ids, plaintext
 * secrets) against the live entries of the Admin API (random ids, masked secrets).
 *
 * Entries match by identity (`display_name` / `name`; an api key without a matching
 * display_name matches by `key_hash`). Live documents are brought into the file's id space
 * (references by id rewritten to derived ids) and normalised by the write schema, so equal
 * resources compare equal whatever wrote them. Secrets are compared by their masked form
 * (what the Admin API returns: `****` + last 4 characters, `****` alone under 12 characters):
 * a different mask is a change; an equal mask counts as unchanged. No secret value is ever
 * part of a change record, only the fact that it changes.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  fileResourceId,
  type KindName,
  maskSecret,
  type ResourcesFileEntry,
  validateWrite,
} from '@aisix/core';
import type { LiveEntry } from './admin-client.js';
import { FILE_KINDS, identityOf, secretSlots, withoutDefaults, withoutEmptyGrace } from './identity.js';
import { orderSteps, type Planned } from './order.js';
import { type Doc, mapIdRefs, type Orderable, writeOrder } from './refs.js';

export type FieldChange =
  | { readonly path: string; readonly type: 'changed'; readonly before: unknown; readonly after: unknown }
  | { readonly path: string; readonly type: 'added'; readonly after: unknown }
  | { readonly path: string; readonly type: 'removed'; readonly before: unknown }
  | { readonly path: string; readonly type: 'secret'; readonly change: 'changed' | 'set' | 'removed' };

export type Step =
  | {
      readonly op: 'create';
      readonly kind: KindName;
      readonly identity: string;
      readonly doc: Doc;
      /** The id the file's references use for it (mapped to the new live id once created). */
      readonly derivedId: string;
      /** Its fields, as `added` changes (secrets as `secret` / `set`). */
      readonly changes: readonly FieldChange[];
    }
  | {
      readonly op: 'update';
      readonly kind: KindName;
      readonly identity: string;
      readonly doc: Doc;
      readonly liveId: string;
      readonly revision: number;
      readonly changes: readonly FieldChange[];
    }
  | {
      readonly op: 'delete';
      readonly kind: KindName;
      readonly identity: string;
      readonly liveId: string;
      readonly revision: number;
    };

export interface Plan {
  /**
   * In execution order: creates and updates in dependency order, then deletes in reverse; a
   * step that frees a unique value (api key hash or JWT identity, OIDC issuer) before the step
   * that takes it (order.ts).
   */
  readonly steps: readonly Step[];
  /** Live entries the file does not have, kept because --prune was not given. */
  readonly unmanaged: readonly { kind: KindName; identity: string; id: string }[];
  readonly unchanged: number;
  /** file (kind/derived id) → live id, for the entries that exist already. */
  readonly liveIds: ReadonlyMap<string, string>;
  /** derived id → `kind "identity"`, to show references by name. */
  readonly labels: ReadonlyMap<string, string>;
}

export type PlanResult = { ok: true; plan: Plan } | { ok: false; errors: string[] };

const SECRET = '\u0000secret:';

function labelOf(kind: KindName, identity: string): string {
  return `${kind} "${identity}"`;
}

/** Secret leaves → comparable tokens (masked forms), so the diff never holds a secret. */
function tokenizeSecrets(kind: KindName, doc: Doc, mask: boolean): Doc {
  const out = structuredClone(doc);
  for (const s of secretSlots(kind, out)) s.set(SECRET + (mask ? maskSecret(s.value) : s.value));
  return out;
}

const isToken = (v: unknown): v is string => typeof v === 'string' && v.startsWith(SECRET);

const obj = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value holding a secret token anywhere (a whole `headers` map added or removed). */
function holdsToken(v: unknown): boolean {
  if (isToken(v)) return true;
  if (Array.isArray(v)) return v.some(holdsToken);
  return obj(v) && Object.values(v).some(holdsToken);
}

/** The value with every secret token replaced by `(secret)`: what a change may show. */
function redactTokens(v: unknown): unknown {
  if (isToken(v)) return '(secret)';
  if (Array.isArray(v)) return v.map(redactTokens);
  if (!obj(v)) return v;
  const out: Doc = {};
  for (const [k, x] of Object.entries(v)) out[k] = redactTokens(x);
  return out;
}

function diffValues(before: unknown, after: unknown, path: string, out: FieldChange[]): void {
  if (isDeepStrictEqual(before, after)) return;
  if (isToken(before) || isToken(after)) {
    if (before === undefined) out.push({ path, type: 'secret', change: 'set' });
    else if (after === undefined) out.push({ path, type: 'secret', change: 'removed' });
    else out.push({ path, type: 'secret', change: 'changed' });
    return;
  }
  // A map of secrets added or removed whole: one secret change per leaf, never the values.
  if (before === undefined && obj(after) && holdsToken(after)) {
    diffValues({}, after, path, out);
    return;
  }
  if (after === undefined && obj(before) && holdsToken(before)) {
    diffValues(before, {}, path, out);
    return;
  }
  if (obj(before) && obj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const k of keys) diffValues(before[k], after[k], path === '' ? k : `${path}.${k}`, out);
    return;
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    before.forEach((b, i) => {
      diffValues(b, after[i], `${path}[${i}]`, out);
    });
    return;
  }
  // Anything else shown whole (an array of secrets changing length) shows no secret either.
  if (before === undefined) out.push({ path, type: 'added', after: redactTokens(after) });
  else if (after === undefined) out.push({ path, type: 'removed', before: redactTokens(before) });
  else out.push({ path, type: 'changed', before: redactTokens(before), after: redactTokens(after) });
}

/** The fields of a new entry, top level, as changes from nothing. */
function fieldsOf(kind: KindName, doc: Doc): FieldChange[] {
  const out: FieldChange[] = [];
  const tokens = tokenizeSecrets(kind, withoutDefaults(kind, doc), true);
  for (const [k, v] of Object.entries(tokens)) {
    if (isToken(v)) out.push({ path: k, type: 'secret', change: 'set' });
    else if (typeof v === 'object' && v !== null && !Array.isArray(v)) diffValues({}, v, k, out);
    else out.push({ path: k, type: 'added', after: v });
  }
  return out;
}

/**
 * The PUT body of an update. A PUT on an api key without `previous_keys` keeps the stored ones
 * (the Admin API's guard for callers replacing other fields); a file entry without them means
 * none, as the plan shows (`previous_keys: [...] -> (unset)`), so the body says `[]`.
 */
function replacement(kind: KindName, doc: Doc, live: Doc): Doc {
  const ending = kind === 'api_keys' && doc.previous_keys === undefined && live.previous_keys !== undefined;
  return ending ? { ...doc, previous_keys: [] } : doc;
}

interface Desired {
  kind: KindName;
  identity: string;
  derivedId: string;
  value: Doc;
  live?: LiveEntry;
}

export function buildPlan(
  desiredEntries: readonly ResourcesFileEntry[],
  live: readonly LiveEntry[],
  opts: { prune: boolean },
): PlanResult {
  const errors: string[] = [];
  const desired: Desired[] = desiredEntries.map((e) => ({
    kind: e.kind,
    identity: identityOf(e.kind, e.value) ?? e.id,
    derivedId: e.id,
    value: e.value,
  }));
  const matched = new Set<LiveEntry>();
  for (const kind of FILE_KINDS) {
    const liveOfKind = live.filter((l) => l.kind === kind);
    const byIdentity = new Map<string, LiveEntry[]>();
    for (const l of liveOfKind) {
      const id = identityOf(kind, l.value);
      if (id !== undefined) byIdentity.set(id, [...(byIdentity.get(id) ?? []), l]);
    }
    const ofKind = desired.filter((x) => x.kind === kind);
    const claimed = new Set(ofKind.map((d) => d.identity));
    for (const d of ofKind) {
      const same = byIdentity.get(d.identity) ?? [];
      if (same.length > 1) {
        errors.push(
          `${labelOf(kind, d.identity)}: ${same.length} live entries have this identity (ids ${same.map((l) => l.id).join(', ')}); rename or delete all but one`,
        );
      } else if (same[0] !== undefined) {
        d.live = same[0];
        matched.add(same[0]);
      }
    }
    // Name matches first; then an api key the file names differently is found by its hash,
    // unless its live name belongs to another entry of the file.
    if (kind !== 'api_keys') continue;
    const byHash = new Map<unknown, LiveEntry>();
    for (const l of liveOfKind) {
      const name = identityOf(kind, l.value);
      if (!matched.has(l) && (name === undefined || !claimed.has(name))) byHash.set(l.value.key_hash, l);
    }
    for (const d of ofKind) {
      if (d.live !== undefined || (byIdentity.get(d.identity)?.length ?? 0) > 1) continue;
      const hit = byHash.get(d.value.key_hash);
      if (hit !== undefined && !matched.has(hit)) {
        d.live = hit;
        matched.add(hit);
      }
    }
  }
  if (errors.length > 0) return { ok: false, errors };

  // Live id → the id the file uses for the same resource (derived from its identity).
  const toDerived = new Map<string, string>();
  const labels = new Map<string, string>();
  const liveIds = new Map<string, string>();
  for (const d of desired) {
    labels.set(d.derivedId, labelOf(d.kind, d.identity));
    if (d.live) {
      toDerived.set(`${d.kind}/${d.live.id}`, d.derivedId);
      liveIds.set(`${d.kind}/${d.derivedId}`, d.live.id);
    }
  }
  for (const l of live) {
    if (matched.has(l) || !FILE_KINDS.includes(l.kind)) continue;
    const identity = identityOf(l.kind, l.value);
    if (identity === undefined) continue;
    const derived = fileResourceId(l.kind, identity);
    toDerived.set(`${l.kind}/${l.id}`, derived);
    labels.set(derived, labelOf(l.kind, identity));
  }
  const canonical = (l: LiveEntry): Doc => {
    const mapped = mapIdRefs(l.kind, l.value, (t, id) => toDerived.get(`${t}/${id}`) ?? id);
    const r = validateWrite(l.kind, mapped);
    return r.ok ? r.value : mapped;
  };

  const upserts: (Orderable & { planned: Planned<Step> })[] = [];
  let unchanged = 0;
  for (const d of desired) {
    const base = { kind: d.kind, identity: d.identity, id: d.derivedId, doc: d.value };
    const wanted = { id: d.derivedId, doc: d.value };
    if (d.live === undefined) {
      const step: Step = {
        op: 'create',
        kind: d.kind,
        identity: d.identity,
        doc: d.value,
        derivedId: d.derivedId,
        changes: fieldsOf(d.kind, d.value),
      };
      upserts.push({ ...base, planned: { step, desired: wanted } });
      continue;
    }
    const changes: FieldChange[] = [];
    diffValues(
      tokenizeSecrets(d.kind, withoutEmptyGrace(d.kind, canonical(d.live)), false),
      tokenizeSecrets(d.kind, withoutEmptyGrace(d.kind, d.value), true),
      '',
      changes,
    );
    if (changes.length === 0) {
      unchanged++;
      continue;
    }
    const body = replacement(d.kind, d.value, d.live.value);
    const step: Step = {
      op: 'update',
      kind: d.kind,
      identity: d.identity,
      doc: body,
      liveId: d.live.id,
      revision: d.live.revision,
      changes,
    };
    const planned = { step, desired: { ...wanted, doc: body }, live: { id: d.live.id, doc: d.live.value } };
    upserts.push({ ...base, planned });
  }

  const extra = live.filter((l) => !matched.has(l) && FILE_KINDS.includes(l.kind));
  const deletes = opts.prune
    ? writeOrder(
        extra.map((l) => {
          const identity = identityOf(l.kind, l.value) ?? l.id;
          const step: Step = { op: 'delete', kind: l.kind, identity, liveId: l.id, revision: l.revision };
          return {
            kind: l.kind,
            identity,
            id: l.id,
            doc: l.value,
            planned: { step, live: { id: l.id, doc: l.value } },
          };
        }),
      ).reverse()
    : [];
  // Dependency order, then each step that frees a unique value pulled before the one taking it.
  const steps = orderSteps([...writeOrder(upserts), ...deletes].map((x) => x.planned));
  return {
    ok: true,
    plan: {
      steps,
      unmanaged: opts.prune
        ? []
        : extra.map((l) => ({ kind: l.kind, identity: identityOf(l.kind, l.value) ?? l.id, id: l.id })),
      unchanged,
      liveIds,
      labels,
    },
  };
}

export function planCounts(plan: Plan): { create: number; update: number; delete: number } {
  const n = (op: Step['op']) => plan.steps.filter((s) => s.op === op).length;
  return { create: n('create'), update: n('update'), delete: n('delete') };
}
