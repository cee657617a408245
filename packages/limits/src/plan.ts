/**
 * The limit plan: which buckets a request must pass (data-plane §9.4), compiled once per config
 * snapshot so the per-request work is a few map lookups. `compileLimitPlan` returns undefined
 * when the snapshot configures no limit at all, so an unlimited gateway pays nothing.
 *
 * Request gate, in layer order: the caller key's inline limit (bucket `<api_key_id>`), the
 * requested model's inline limit (`model:<requested name>`), then every applicable, not
 * suspended policy, sorted by policy id for determinism. Policies that follow the model
 * (classic `model` scope; conditional ones reading model/model_name/provider) are evaluated
 * against the requested model when it is direct, and per routing target when it is a group
 * (`targetBuckets`, together with the target's inline `model:<target alias>` bucket), never
 * against the group itself.
 *
 * Allocation discipline: key buckets and single-bucket policies are prebuilt; model inline
 * buckets are cached by name (bounded); only group_by and team_member buckets, whose keys
 * depend on the request, are built per request (team_member ones cached, bounded).
 */
import type { ConfigSnapshot, Resource } from '@aisix/core';
import type { DimValues } from './conditions.js';
import {
  type ClassicPolicy,
  type CompiledPolicy,
  type ConditionalPolicy,
  cleanLimits,
  compilePolicy,
  groupedBucket,
} from './policies.js';
import { inSchedule } from './schedules.js';
import type { Bucket, Limits } from './types.js';

export interface ModelFacts {
  /** Model resource id (`model` condition dimension, classic `model` scope_ref). */
  readonly id: string;
  /** display_name: the alias of a routing target's bucket `model:<alias>`. */
  readonly alias: string;
  /** The model's inline `rate_limit` (raw resource value is fine; unknown fields are ignored). */
  readonly limits?: Limits | undefined;
  /** Upstream model_name after wildcard substitution (`model_name` dimension). */
  readonly modelName?: string | undefined;
  readonly provider?: string | undefined;
  /** Has a routing block: model-following policies are then evaluated per target. */
  readonly group: boolean;
}

export interface RequestFacts {
  readonly apiKeyId: string;
  /** Key team_id. */
  readonly team?: string | undefined;
  /** Key user_id. */
  readonly member?: string | undefined;
  /** The model name the caller sent (bucket `model:<requestedName>`). */
  readonly requestedName: string;
  /** The resolved requested model. */
  readonly model: ModelFacts;
}

export interface LimitPlan {
  /** Request gate (§9.4 layers 1, 2, 4). A fresh array the caller may keep. */
  requestBuckets(f: RequestFacts, nowMs?: number): Bucket[];
  /** Per routing attempt of a group member: target inline limit + model-following policies. */
  targetBuckets(f: RequestFacts, target: ModelFacts, nowMs?: number): Bucket[];
  /** `ModelFacts` of a model resource (cached per resource object). */
  modelFacts(model: Resource<'models'>, modelName?: string): ModelFacts;
  /** One line per policy with problems found while compiling (skipped rows, ignored fields). */
  readonly warnings: readonly string[];
}

const CACHE_MAX = 10_000;

interface Cached {
  readonly src: unknown;
  readonly bucket: Bucket | undefined;
}

function push<K>(m: Map<K, ClassicPolicy[]>, k: K, p: ClassicPolicy): void {
  const l = m.get(k);
  if (l === undefined) m.set(k, [p]);
  else l.push(p);
}

/** Insertion sort of out[from..] by policy id (tails are tiny; no allocation). */
function sortTail(out: Bucket[], from: number): void {
  for (let i = from + 1; i < out.length; i++) {
    const b = out[i] as Bucket;
    const id = b.policy?.id ?? '';
    let j = i - 1;
    while (j >= from && ((out[j] as Bucket).policy?.id ?? '') > id) {
      out[j + 1] = out[j] as Bucket;
      j--;
    }
    out[j + 1] = b;
  }
}

function dims(f: RequestFacts, m: ModelFacts): DimValues {
  return {
    team: f.team,
    member: f.member,
    api_key: f.apiKeyId,
    model: m.id,
    model_name: m.modelName,
    provider: m.provider,
  };
}

class Plan implements LimitPlan {
  readonly warnings: string[] = [];
  readonly keyBuckets = new Map<string, Bucket>();
  private readonly byKey = new Map<string, ClassicPolicy[]>();
  private readonly byTeam = new Map<string, ClassicPolicy[]>();
  private readonly byMember = new Map<string, ClassicPolicy[]>();
  private readonly teamMember = new Map<string, ClassicPolicy[]>();
  private readonly byModel = new Map<string, ClassicPolicy[]>();
  private readonly condRequest: ConditionalPolicy[] = [];
  private readonly condModel: ConditionalPolicy[] = [];
  private readonly modelBuckets = new Map<string, Cached>();
  private readonly memberBuckets = new Map<string, Bucket>();
  private readonly facts = new WeakMap<object, ModelFacts>();
  hasPolicies = false;

  constructor(private readonly now: () => number) {}

  addPolicy(p: CompiledPolicy): void {
    this.hasPolicies = true;
    if (p.form === 'conditional') {
      (p.followsModel ? this.condModel : this.condRequest).push(p);
      return;
    }
    const index = {
      api_key: this.byKey,
      team: this.byTeam,
      member: this.byMember,
      team_member: this.teamMember,
      model: this.byModel,
    }[p.scope];
    push(index, p.scopeRef, p);
  }

  requestBuckets(f: RequestFacts, nowMs: number = this.now()): Bucket[] {
    const out: Bucket[] = [];
    const kb = this.keyBuckets.get(f.apiKeyId);
    if (kb !== undefined) out.push(kb);
    const mb = this.inline(f.requestedName, f.model.limits);
    if (mb !== undefined) out.push(mb);
    if (!this.hasPolicies) return out;
    const from = out.length;
    this.classic(out, this.byKey.get(f.apiKeyId), nowMs);
    if (f.team !== undefined) this.classic(out, this.byTeam.get(f.team), nowMs);
    if (f.member !== undefined) this.classic(out, this.byMember.get(f.member), nowMs);
    if (f.team !== undefined && f.member !== undefined) {
      const list = this.teamMember.get(f.team);
      if (list !== undefined)
        for (const p of list) if (this.active(p, nowMs)) out.push(this.memberBucket(p, f.member));
    }
    let v: DimValues | undefined;
    if (this.condRequest.length > 0) {
      v = dims(f, f.model);
      this.conditional(out, this.condRequest, v, nowMs);
    }
    if (!f.model.group) {
      this.classic(out, this.byModel.get(f.model.id), nowMs);
      if (this.condModel.length > 0) this.conditional(out, this.condModel, v ?? dims(f, f.model), nowMs);
    }
    if (out.length - from > 1) sortTail(out, from);
    return out;
  }

  targetBuckets(f: RequestFacts, target: ModelFacts, nowMs: number = this.now()): Bucket[] {
    const out: Bucket[] = [];
    const tb = this.inline(target.alias, target.limits);
    if (tb !== undefined) out.push(tb);
    if (!this.hasPolicies) return out;
    const from = out.length;
    this.classic(out, this.byModel.get(target.id), nowMs);
    if (this.condModel.length > 0) this.conditional(out, this.condModel, dims(f, target), nowMs);
    if (out.length - from > 1) sortTail(out, from);
    return out;
  }

  modelFacts(model: Resource<'models'>, modelName?: string): ModelFacts {
    const v = model.value;
    if (modelName !== undefined && modelName !== v.model_name) return this.makeFacts(model, modelName);
    let f = this.facts.get(model);
    if (f === undefined) {
      f = this.makeFacts(model, v.model_name);
      this.facts.set(model, f);
    }
    return f;
  }

  private makeFacts(model: Resource<'models'>, modelName: string | undefined): ModelFacts {
    const v = model.value;
    return {
      id: model.id,
      alias: v.display_name,
      limits: v.rate_limit,
      modelName,
      provider: v.provider,
      group: v.routing !== undefined,
    };
  }

  /** `model:<name>` for an inline limit; cached per name while the limits object is the same. */
  private inline(name: string, raw: Limits | undefined): Bucket | undefined {
    if (raw === undefined) return undefined;
    const hit = this.modelBuckets.get(name);
    if (hit !== undefined && hit.src === raw) return hit.bucket;
    const limits = cleanLimits(raw);
    const bucket: Bucket | undefined =
      limits === undefined ? undefined : Object.freeze({ key: `model:${name}`, limits, layer: 'model' });
    // Wildcard aliases make the name space open-ended: bound the cache.
    if (this.modelBuckets.size >= CACHE_MAX) this.modelBuckets.clear();
    this.modelBuckets.set(name, { src: raw, bucket });
    return bucket;
  }

  private memberBucket(p: ClassicPolicy, member: string): Bucket {
    const k = `${p.ref.id}\n${member}`;
    let b = this.memberBuckets.get(k);
    if (b === undefined) {
      b = Object.freeze({
        key: `policy:team_member:${p.scopeRef}:${p.ref.id}:${member}`,
        limits: p.limits,
        layer: 'policy',
        policy: p.ref,
      });
      if (this.memberBuckets.size >= CACHE_MAX) this.memberBuckets.clear();
      this.memberBuckets.set(k, b);
    }
    return b;
  }

  private classic(out: Bucket[], list: readonly ClassicPolicy[] | undefined, nowMs: number): void {
    if (list === undefined) return;
    for (const p of list) if (p.bucket !== undefined && this.active(p, nowMs)) out.push(p.bucket);
  }

  private conditional(out: Bucket[], list: readonly ConditionalPolicy[], v: DimValues, nowMs: number): void {
    for (const p of list) {
      if (!p.conditions.test(v) || !this.active(p, nowMs)) continue;
      const b = groupedBucket(p, v);
      if (b !== undefined) out.push(b);
    }
  }

  /** Not suspended by a schedule; the verdict is cached per policy and minute. */
  private active(p: CompiledPolicy, nowMs: number): boolean {
    if (p.schedules.length === 0) return true;
    const minute = Math.floor(nowMs / 60_000);
    if (p.minute !== minute) {
      p.minute = minute;
      p.suspended = inSchedule(p.schedules, nowMs);
    }
    return !p.suspended;
  }
}

/** Compiles the snapshot's limits; undefined when nothing in it configures a limit. */
export function compileLimitPlan(
  snapshot: ConfigSnapshot,
  now: () => number = Date.now,
): LimitPlan | undefined {
  const plan = new Plan(now);
  let anything = false;
  for (const [id, key] of snapshot.byId('api_keys')) {
    const limits = cleanLimits(key.value.rate_limit);
    if (limits === undefined) continue;
    plan.keyBuckets.set(id, Object.freeze({ key: id, limits, layer: 'api_key' }));
    anything = true;
  }
  if (!anything) {
    for (const m of snapshot.byId('models').values()) {
      if (cleanLimits(m.value.rate_limit) !== undefined) {
        anything = true;
        break;
      }
    }
  }
  const rows = [...snapshot.byId('rate_limit_policies').values()].sort((a, b) =>
    a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
  );
  for (const row of rows) {
    anything = true;
    // Notes are joined so the gateway can log one line per policy.
    const notes: string[] = [];
    const warn = (m: string) => notes.push(m);
    let p: CompiledPolicy | string;
    try {
      p = compilePolicy(row.id, row.value, warn);
    } catch (err) {
      p = `cannot compile (${err instanceof Error ? err.message : String(err)})`;
    }
    if (typeof p === 'string') warn(`skipped: ${p}`);
    else plan.addPolicy(p);
    if (notes.length > 0) plan.warnings.push(`rate_limit_policies/${row.id}: ${notes.join('; ')}`);
  }
  return anything ? plan : undefined;
}
