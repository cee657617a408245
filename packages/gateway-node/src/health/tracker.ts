/**
 * Runtime model health, per process (data-plane §8.6, control-plane §4.6 and §6.2), fed from the
 * one place an upstream attempt finishes (`pipeline/dispatch.ts`), so every endpoint feeds it.
 *
 * Per target model id it keeps:
 * - the consecutive failed attempts → admin health 0 (healthy), 1 (degraded: 4–7), 2 (down: ≥ 8);
 *   any success resets to 0. A 4xx outside the model's `trigger_statuses` (400, 404, 422: the
 *   caller's fault) and failures that never reached the upstream (config faults) do not count. A routing group records its request-level outcome under its own id
 *   (all targets failed = one failure), so the group alias has a health too.
 * - the cooldown: a failed attempt whose kind the model's `cooldown` triggers on cools the target
 *   down until now + TTL (upstream `Retry-After` when `honor_retry_after`, clamped to
 *   `max_seconds`; else `default_seconds`; `default_seconds: 0` or `enabled: false` disables it),
 *   independent of retryability. A success clears it. Cooldown only changes group candidate
 *   selection (`healthFilter`); a direct model keeps receiving traffic.
 * - the status reason of the last failure and the last failure / success times.
 *
 * No timers: expiry is a comparison with the clock when someone asks. The success path is one
 * Map lookup and, when the model had failed, a few field writes.
 *
 * - the outcome of the last background check (`background_model_check`, `background.ts`): a
 *   failed check makes the target `unhealthy` until the next successful check, or until the result
 *   is older than `stale_after_seconds` (then it no longer counts). Unhealthy outranks cooldown.
 *
 * State lives in this process: with `proxy.workers` > 1 each worker keeps and routes on its own,
 * and the primary reports the pod by merging the workers' `dump()`s (`ModelHealthTracker.merged`).
 *
 * A model whose configuration cannot serve (a reference that resolves to nothing, e.g. a provider
 * key deleted straight from etcd, or a provider key with no dispatch path) is `unavailable` with
 * `status_reason` and a `status_detail` naming the field, whatever its kind or runtime state.
 */
import {
  type ConfigSnapshot,
  type ModelConfigFault,
  modelConfigFault,
  type Resource,
  snapshotReferenceIndex,
} from '@aisix/core';
import { modelKind, modelView } from '../resources.js';
import type { AttemptFailure } from '../upstream/failures.js';

export type StatusReason =
  | 'upstream_auth_failure'
  | 'upstream_request_timeout'
  | 'upstream_rate_limited'
  | 'upstream_server_error'
  | 'upstream_status_failure'
  | 'request_timeout'
  | 'transport_error'
  | 'upstream_decode_error'
  | 'upstream_in_band_error';

/** The model's `cooldown` object as stored (core fills defaults when the object is present). */
export interface CooldownView {
  readonly enabled?: boolean;
  readonly default_seconds?: number;
  readonly max_seconds?: number;
  readonly honor_retry_after?: boolean;
  readonly trigger_statuses?: readonly number[];
  readonly trigger_on_timeout?: boolean;
  readonly trigger_on_transport?: boolean;
}

export const DEFAULT_TRIGGER_STATUSES: readonly number[] = [401, 408, 429, 500, 502, 503, 504];
const DEFAULT_SECONDS = 30;
const MAX_SECONDS = 600;
/**
 * The end of year 9999, the last instant an RFC 3339 `cooldown_until` can name: `max_seconds`
 * is a u64, and a cooldown past this is "until a success ends it" whatever its exact length.
 */
const LATEST_UNTIL = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Consecutive failures from which the admin health is 1 (degraded) and 2 (down). */
export const DEGRADED_AFTER = 4;
export const DOWN_AFTER = 8;

export type HealthLevel = 0 | 1 | 2;

/** Labels of `aisix_deployment_*` (data-plane §12.2). */
export interface DeploymentLabels {
  readonly provider: string;
  readonly model: string;
  readonly upstream_model: string;
  readonly provider_key_id: string;
}

export interface ModelRuntimeState {
  alias: string;
  consecutiveFailures: number;
  /** Epoch ms; 0 = not cooling. */
  cooldownUntil: number;
  reason: StatusReason | undefined;
  /** Epoch ms; 0 = never. */
  lastFailureAt: number;
  lastSuccessAt: number;
  /** Times this target entered (or extended) a cooldown. */
  cooledDown: number;
  labels: DeploymentLabels | undefined;
  /** Last background check: epoch ms (0 = never), its HTTP status, whether it passed. */
  lastCheckedAt: number;
  lastCheckStatus: number | undefined;
  checkFailed: boolean;
  checkReason: StatusReason | undefined;
  /** The check's `stale_after_seconds` in ms: a failed check older than this no longer counts. */
  checkStaleMs: number;
}

/** One model's state as a worker hands it to the cluster primary (plain data, IPC-safe). */
export type ModelStateDump = ModelRuntimeState & { readonly id: string };

/** A target's runtime status for routing and `/status/models`. */
export type TargetStatus = 'healthy' | 'unhealthy' | 'cooldown';

export interface ModelStatusRow {
  id: string;
  display_name: string;
  kind: 'direct' | 'routing' | 'ensemble' | 'semantic';
  status: 'healthy' | 'unhealthy' | 'cooldown' | 'not_applicable' | 'unavailable';
  cooldown_until?: string;
  last_checked_at?: string;
  last_check_status?: number;
  status_reason?: StatusReason | ModelConfigFault['reason'];
  /** Only for `unavailable`: `<pointer>: <why>`. */
  status_detail?: string;
}

/** The `unavailable` row of a model whose configuration cannot serve, or undefined. */
export function unavailableRow(
  snapshot: ConfigSnapshot,
  m: Resource<'models'>,
  kind: ModelStatusRow['kind'],
): ModelStatusRow | undefined {
  const fault = modelConfigFault(m.value as Record<string, unknown>, snapshotReferenceIndex(snapshot));
  if (fault === null) return undefined;
  const v = modelView(m);
  return {
    id: m.id,
    display_name: v.display_name,
    kind,
    status: 'unavailable',
    status_reason: fault.reason,
    status_detail: fault.detail,
  };
}

/** The status reason of a failed upstream HTTP status. */
export function statusReason(s: number): StatusReason {
  if (s === 401 || s === 403) return 'upstream_auth_failure';
  if (s === 408) return 'upstream_request_timeout';
  if (s === 429) return 'upstream_rate_limited';
  return s >= 500 ? 'upstream_server_error' : 'upstream_status_failure';
}

/**
 * Why an attempt failed, in §8.6's vocabulary, and which trigger family it belongs to; undefined
 * for failures that never reached the upstream (configuration or credential faults of the
 * gateway's own, e.g. a provider key whose adapter refuses it), which say nothing of its health.
 */
export function classifyFailure(
  f: AttemptFailure,
): { reason: StatusReason; trigger: 'status' | 'timeout' | 'transport' } | undefined {
  if (f.status !== undefined) return { reason: statusReason(f.status), trigger: 'status' };
  if (f.timeout) return { reason: 'request_timeout', trigger: 'timeout' };
  switch (f.error.type) {
    case 'transport_error':
      return { reason: 'transport_error', trigger: 'transport' };
    case 'upstream_decode_error':
      return { reason: 'upstream_decode_error', trigger: 'transport' };
    case 'upstream_error':
      // In-band stream errors without a 4xx status: with an embedded status they go by the
      // status list, without one by trigger_on_transport (§8.6).
      return {
        reason: 'upstream_in_band_error',
        trigger: f.inBandStatus !== undefined ? 'status' : 'transport',
      };
    default:
      return undefined;
  }
}

/** Cooldown length in ms for this failure under the model's settings; 0 = no cooldown. */
export function cooldownMs(cfg: CooldownView | undefined, f: AttemptFailure): number {
  if (cfg?.enabled === false) return 0;
  const def = cfg?.default_seconds ?? DEFAULT_SECONDS;
  if (def <= 0) return 0;
  const trigger = classifyFailure(f)?.trigger;
  if (trigger === undefined) return 0;
  if (trigger === 'status') {
    const list = cfg?.trigger_statuses ?? DEFAULT_TRIGGER_STATUSES;
    const status = f.status ?? f.inBandStatus;
    if (status === undefined || !list.includes(status)) return 0;
    // An in-band status carries no Retry-After: the default TTL (§8.6).
  } else if (trigger === 'timeout') {
    if (cfg?.trigger_on_timeout === false) return 0;
  } else if (cfg?.trigger_on_transport === false) return 0;
  const maxMs = Math.max(1, cfg?.max_seconds ?? MAX_SECONDS) * 1000;
  const honor = cfg?.honor_retry_after ?? true;
  if (honor && f.retryAfterMs !== undefined && f.retryAfterMs > 0) return Math.min(f.retryAfterMs, maxMs);
  return Math.min(def * 1000, maxMs);
}

export function healthLevel(consecutiveFailures: number): HealthLevel {
  return consecutiveFailures >= DOWN_AFTER ? 2 : consecutiveFailures >= DEGRADED_AFTER ? 1 : 0;
}

function cooldownOf(model: Resource<'models'>): CooldownView | undefined {
  return (model.value as { cooldown?: CooldownView }).cooldown;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export class ModelHealthTracker {
  private readonly states = new Map<string, ModelRuntimeState>();

  constructor(private readonly now: () => number = Date.now) {}

  private entry(id: string, alias: string): ModelRuntimeState {
    let s = this.states.get(id);
    if (s === undefined) {
      s = {
        alias,
        consecutiveFailures: 0,
        cooldownUntil: 0,
        reason: undefined,
        lastFailureAt: 0,
        lastSuccessAt: 0,
        cooledDown: 0,
        labels: undefined,
        lastCheckedAt: 0,
        lastCheckStatus: undefined,
        checkFailed: false,
        checkReason: undefined,
        checkStaleMs: 0,
      };
      this.states.set(id, s);
    } else s.alias = alias;
    return s;
  }

  /**
   * A failed attempt on a direct target: counts it and applies the model's cooldown. Failures
   * that never reached the upstream (`classifyFailure` undefined) are not recorded.
   */
  recordFailure(model: Resource<'models'>, f: AttemptFailure, labels?: DeploymentLabels): void {
    const c = classifyFailure(f);
    if (c === undefined) return;
    const cfg = cooldownOf(model);
    // A 4xx outside the trigger list (400, 404, 422...) is the caller's fault, not the upstream's:
    // it neither counts as a failure nor as a success.
    if (
      c.reason === 'upstream_status_failure' &&
      !(cfg?.trigger_statuses ?? DEFAULT_TRIGGER_STATUSES).includes(f.status ?? 0)
    )
      return;
    const now = this.now();
    const s = this.entry(model.id, modelView(model).display_name);
    s.consecutiveFailures++;
    s.lastFailureAt = now;
    s.reason = c.reason;
    if (labels !== undefined) s.labels = labels;
    const ms = cooldownMs(cfg, f);
    if (ms > 0) {
      s.cooldownUntil = Math.max(s.cooldownUntil, Math.min(now + ms, LATEST_UNTIL));
      s.cooledDown++;
    }
  }

  /** A routing group whose every target failed: counts toward the group alias's health only. */
  recordGroupFailure(id: string, alias: string): void {
    const s = this.entry(id, alias);
    s.consecutiveFailures++;
    s.lastFailureAt = this.now();
  }

  /** A successful attempt (or group request): resets the count and clears any cooldown. */
  recordSuccess(id: string): void {
    const s = this.states.get(id);
    if (s === undefined) return;
    s.consecutiveFailures = 0;
    s.cooldownUntil = 0;
    s.reason = undefined;
    s.lastSuccessAt = this.now();
  }

  /** True while the target model is cooling down. */
  inCooldown(id: string): boolean {
    const s = this.states.get(id);
    return s !== undefined && s.cooldownUntil !== 0 && s.cooldownUntil > this.now();
  }

  /**
   * The outcome of one background check of a direct model: `status` is the upstream HTTP status
   * (undefined: no answer), `reason` why it failed (undefined: it passed).
   */
  recordCheck(
    model: Resource<'models'>,
    status: number | undefined,
    reason: StatusReason | undefined,
    staleAfterMs: number,
  ): void {
    const s = this.entry(model.id, modelView(model).display_name);
    s.lastCheckedAt = this.now();
    s.lastCheckStatus = status;
    s.checkFailed = reason !== undefined;
    s.checkReason = reason;
    s.checkStaleMs = staleAfterMs;
  }

  private statusOf(s: ModelRuntimeState, now: number): TargetStatus {
    if (s.checkFailed && now - s.lastCheckedAt <= s.checkStaleMs) return 'unhealthy';
    if (s.cooldownUntil > now) return 'cooldown';
    return 'healthy';
  }

  /** Runtime status of a target model id (never seen = healthy). */
  targetStatus(id: string): TargetStatus {
    const s = this.states.get(id);
    return s === undefined ? 'healthy' : this.statusOf(s, this.now());
  }

  /** Admin health (0/1/2) of a model id; unknown or never failed = 0. */
  health(id: string | undefined): HealthLevel {
    if (id === undefined) return 0;
    const s = this.states.get(id);
    return s === undefined ? 0 : healthLevel(s.consecutiveFailures);
  }

  /** Admin health of an alias as the store names it (exact `display_name`, wildcard patterns too). */
  healthByName(snapshot: ConfigSnapshot, name: string): HealthLevel {
    return this.health(snapshot.byName('models', name)?.id);
  }

  state(id: string): Readonly<ModelRuntimeState> | undefined {
    return this.states.get(id);
  }

  /**
   * Data-plane §8.4 step 5: healthy targets are kept (in order); when none is healthy, the cooling
   * ones (cooldown alone never empties the list); when every target is background-unhealthy,
   * undefined (the caller answers 503), or the unfiltered list with `tryAnyway`. Returns the input
   * array itself when every target is healthy (no allocation). `idOf` returns undefined for a
   * candidate that is not a target (kept, never counted).
   */
  healthFilter<T>(candidates: T[], idOf: (c: T) => string | undefined, tryAnyway = false): T[] | undefined {
    if (this.states.size === 0) return candidates;
    const now = this.now();
    let healthy = 0;
    let cooling = 0;
    let unhealthy = 0;
    for (const c of candidates) {
      const id = idOf(c);
      if (id === undefined) continue;
      const s = this.states.get(id);
      const st = s === undefined ? 'healthy' : this.statusOf(s, now);
      if (st === 'healthy') healthy++;
      else if (st === 'cooldown') cooling++;
      else unhealthy++;
    }
    if (cooling === 0 && unhealthy === 0) return candidates;
    const keep: TargetStatus | undefined = healthy > 0 ? 'healthy' : cooling > 0 ? 'cooldown' : undefined;
    if (keep === undefined) return tryAnyway ? candidates : undefined;
    return candidates.filter((c) => {
      const id = idOf(c);
      return id === undefined || this.targetStatus(id) === keep;
    });
  }

  /** This process's state, for the cluster primary (`mergeDumps`). */
  dump(): ModelStateDump[] {
    const out: ModelStateDump[] = [];
    for (const [id, s] of this.states) out.push({ ...s, id });
    return out;
  }

  /**
   * The pod's view from its workers' dumps (`proxy.workers` > 1): per model the worst
   * consecutive-failure count, the latest cooldown (with its reason), the most recent background
   * check, the summed cooldown count.
   */
  static merged(
    dumps: readonly (readonly ModelStateDump[])[],
    now: () => number = Date.now,
  ): ModelHealthTracker {
    const t = new ModelHealthTracker(now);
    for (const dump of dumps) {
      for (const d of dump) {
        const { id, ...state } = d;
        const s = t.states.get(id);
        if (s === undefined) {
          t.states.set(id, { ...state });
          continue;
        }
        s.consecutiveFailures = Math.max(s.consecutiveFailures, d.consecutiveFailures);
        if (d.cooldownUntil > s.cooldownUntil) {
          s.cooldownUntil = d.cooldownUntil;
          s.reason = d.reason;
        }
        s.lastFailureAt = Math.max(s.lastFailureAt, d.lastFailureAt);
        s.lastSuccessAt = Math.max(s.lastSuccessAt, d.lastSuccessAt);
        s.cooledDown += d.cooledDown;
        s.labels ??= d.labels;
        if (d.lastCheckedAt > s.lastCheckedAt) {
          s.lastCheckedAt = d.lastCheckedAt;
          s.lastCheckStatus = d.lastCheckStatus;
          s.checkFailed = d.checkFailed;
          s.checkReason = d.checkReason;
          s.checkStaleMs = d.checkStaleMs;
        }
      }
    }
    return t;
  }

  /** `/status/models` (and admin `GET /admin/v1/models/status`) rows, sorted by alias. */
  statusRows(snapshot: ConfigSnapshot): ModelStatusRow[] {
    const now = this.now();
    const rows: ModelStatusRow[] = [];
    for (const m of snapshot.byId('models').values()) {
      const v = modelView(m);
      const kind = modelKind(v);
      const unavailable = unavailableRow(snapshot, m, kind);
      if (unavailable !== undefined) {
        rows.push(unavailable);
        continue;
      }
      if (kind !== 'direct') {
        rows.push({ id: m.id, display_name: v.display_name, kind, status: 'not_applicable' });
        continue;
      }
      const s = this.states.get(m.id);
      if (s === undefined) {
        rows.push({ id: m.id, display_name: v.display_name, kind, status: 'healthy' });
        continue;
      }
      const status = this.statusOf(s, now);
      const row: ModelStatusRow = { id: m.id, display_name: v.display_name, kind, status };
      if (s.cooldownUntil > now) row.cooldown_until = new Date(s.cooldownUntil).toISOString();
      if (s.lastCheckedAt > 0) {
        row.last_checked_at = new Date(s.lastCheckedAt).toISOString();
        if (s.lastCheckStatus !== undefined) row.last_check_status = s.lastCheckStatus;
      }
      const reason = status === 'unhealthy' ? s.checkReason : status === 'cooldown' ? s.reason : undefined;
      if (reason !== undefined) row.status_reason = reason;
      rows.push(row);
    }
    rows.sort((a, b) => (a.display_name < b.display_name ? -1 : a.display_name > b.display_name ? 1 : 0));
    return rows;
  }

  /**
   * `aisix_deployment_state` (0 healthy, 1 partial: degraded or cooling down, 2 down or
   * background-unhealthy) and
   * `aisix_deployment_cooled_down_total` for every direct target that has seen a failure here.
   */
  metricsText(): string {
    const now = this.now();
    let state = '';
    let cooled = '';
    for (const s of this.states.values()) {
      const l = s.labels;
      if (l === undefined) continue;
      const labels =
        `provider="${escapeLabel(l.provider)}",model="${escapeLabel(l.model)}",` +
        `upstream_model="${escapeLabel(l.upstream_model)}",provider_key_id="${escapeLabel(l.provider_key_id)}"`;
      const level = healthLevel(s.consecutiveFailures);
      const st = this.statusOf(s, now);
      const v = st === 'unhealthy' ? 2 : level === 0 && st === 'cooldown' ? 1 : level;
      state += `aisix_deployment_state{${labels}} ${v}\n`;
      cooled += `aisix_deployment_cooled_down_total{${labels}} ${s.cooledDown}\n`;
    }
    if (state === '') return '';
    return (
      '# HELP aisix_deployment_state Target model health in this process (0 healthy, 1 partial, 2 down).\n' +
      `# TYPE aisix_deployment_state gauge\n${state}` +
      '# HELP aisix_deployment_cooled_down_total Times a target model entered cooldown in this process.\n' +
      `# TYPE aisix_deployment_cooled_down_total counter\n${cooled}`
    );
  }
}
