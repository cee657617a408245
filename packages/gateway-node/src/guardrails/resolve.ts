/**
 * Which guardrails apply to a request, compiled once per config snapshot.
 *
 * Attachments are indexed by scope; a request's chain is its env entries plus those of its model
 * (the entry the caller named), key and team, ordered by priority (desc), then specificity
 * (api_key > team > model > env), then attachment id; guardrails with no attachment row at all
 * (even a disabled one) are env-wide at priority 0 after the attachments of the same rank, oldest
 * `created_at` first (undated last, id as the tiebreak). A guardrail reached through several
 * attachments keeps its first (winning) place. Disabled guardrails and attachments never apply.
 * Chains are memoized per (model, key, team) for the life of the snapshot.
 */
import type { ConfigSnapshot } from '@aisix/core';
import { type CompiledGuardrail, compileGuardrail } from './compile.js';
import type { RemoteOptions } from './remote/index.js';

const SPECIFICITY = { env: 0, model: 1, team: 2, api_key: 3 } as const;

interface Entry {
  readonly g: CompiledGuardrail;
  readonly priority: number;
  readonly specificity: number;
  /** Stable tiebreak: `a:<attachment id>` sorts before `u:<created_at><id>`. */
  readonly tie: string;
}

export interface GuardrailPlan {
  /** The chain for a request (model id of the entry named, caller key id, the key's team). */
  chainFor(modelId: string, keyId: string, teamId: string | undefined): readonly CompiledGuardrail[];
  /** Guardrails attached to a model by a `model` attachment, in chain order (OP-7 members). */
  modelOnly(modelId: string): readonly CompiledGuardrail[];
  /** Whether any enabled `model` attachment exists (else group members add nothing). */
  readonly modelScoped: boolean;
}

const MAX_MEMO = 4096;

/** undefined when no enabled guardrail of a kind this gateway runs exists. */
export function compileGuardrailPlan(
  s: ConfigSnapshot,
  remote: RemoteOptions = {},
): GuardrailPlan | undefined {
  const compiled = new Map<string, CompiledGuardrail>();
  for (const [id, r] of s.byId('guardrails')) {
    if (r.value.enabled === false) continue;
    const g = compileGuardrail(id, r.value, remote);
    if (g !== undefined) compiled.set(id, g);
  }
  if (compiled.size === 0) return undefined;
  const attached = new Set<string>();
  const env: Entry[] = [];
  const byScope = new Map<string, Entry[]>();
  for (const [aid, r] of s.byId('guardrail_attachments')) {
    const a = r.value;
    attached.add(a.guardrail_id);
    const g = compiled.get(a.guardrail_id);
    if (a.enabled === false || g === undefined) continue;
    const e: Entry = { g, priority: a.priority, specificity: SPECIFICITY[a.scope_type], tie: `a:${aid}` };
    if (a.scope_type === 'env') env.push(e);
    else if (a.scope_id) {
      const k = `${a.scope_type}\u0001${a.scope_id}`;
      const list = byScope.get(k);
      if (list === undefined) byScope.set(k, [e]);
      else list.push(e);
    }
  }
  for (const g of compiled.values()) {
    if (attached.has(g.id)) continue;
    const when = Number.isFinite(g.createdAt) ? String(g.createdAt).padStart(16, '0') : '~';
    env.push({ g, priority: 0, specificity: 0, tie: `u:${when}\u0001${g.id}` });
  }
  const memo = new Map<string, readonly CompiledGuardrail[]>();
  const scoped = (type: string, id: string | undefined) =>
    id === undefined ? [] : (byScope.get(`${type}\u0001${id}`) ?? []);
  return {
    chainFor(modelId, keyId, teamId) {
      const k = `${modelId}\u0001${keyId}\u0001${teamId ?? ''}`;
      let chain = memo.get(k);
      if (chain === undefined) {
        chain = order([
          ...env,
          ...scoped('model', modelId),
          ...scoped('team', teamId),
          ...scoped('api_key', keyId),
        ]);
        if (memo.size >= MAX_MEMO) memo.clear();
        memo.set(k, chain);
      }
      return chain;
    },
    modelOnly(modelId) {
      const k = `member\u0001${modelId}`;
      let chain = memo.get(k);
      if (chain === undefined) {
        chain = order([...scoped('model', modelId)]);
        if (memo.size >= MAX_MEMO) memo.clear();
        memo.set(k, chain);
      }
      return chain;
    },
    modelScoped: [...byScope.keys()].some((k) => k.startsWith('model\u0001')),
  };
}

function order(entries: Entry[]): readonly CompiledGuardrail[] {
  entries.sort(
    (a, b) =>
      b.priority - a.priority ||
      b.specificity - a.specificity ||
      (a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0),
  );
  const seen = new Set<string>();
  const out: CompiledGuardrail[] = [];
  for (const e of entries) {
    if (seen.has(e.g.id)) continue;
    seen.add(e.g.id);
    out.push(e.g);
  }
  return out;
}
