/**
 * Background model checks (data-plane §8.6, EXT): every direct model with
 * `background_model_check.enabled` gets a small chat completion (`prompt`, `max_tokens`) every
 * `interval_seconds`, bounded by `timeout_seconds`, at most 4 checks at a time. A 2xx, or a
 * status in `ignore_statuses`, passes; anything else (status, timeout, transport) marks the
 * target `unhealthy` in the `ModelHealthTracker` until a later check passes or the failure is
 * older than `stale_after_seconds`. Unhealthy targets leave group candidate lists (§8.4 step 5;
 * `when_all_unavailable`).
 *
 * One 1 s timer walks the current snapshot, so models added, changed or removed through the
 * store are picked up live; a newly enabled check runs at once. Checks never touch the request
 * path. Each process checks on its own (with `proxy.workers` > 1, every worker does).
 */
import { randomUUID } from 'node:crypto';
import { type ConfigSnapshot, type Resource, timerMs } from '@aisix/core';
import type { PreparedRequest } from '@aisix/providers';
import { type BackgroundCheckView, modelKind, modelView, providerKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { adapterHttpFor } from '../upstream/authorize.js';
import { type StatusReason, statusReason } from './tracker.js';

/** Checks running at once, per process. */
export const MAX_CONCURRENT_CHECKS = 4;
const TICK_MS = 1000;

interface CheckOutcome {
  readonly status: number | undefined;
  readonly reason: StatusReason | undefined;
}

export class BackgroundChecks {
  private timer: NodeJS.Timeout | undefined;
  /** Model id → epoch ms of its next check. */
  private readonly due = new Map<string, number>();
  private readonly running = new Set<string>();
  private stopped = false;

  constructor(private readonly rt: GatewayRuntime) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.stopped || !this.rt.snapshots.ready) return;
    const snapshot = this.rt.snapshots.current();
    const now = Date.now();
    const seen = new Set<string>();
    for (const m of snapshot.byId('models').values()) {
      const v = modelView(m);
      const cfg = v.background_model_check;
      if (!cfg?.enabled || modelKind(v) !== 'direct') continue;
      seen.add(m.id);
      if (this.running.has(m.id) || (this.due.get(m.id) ?? 0) > now) continue;
      // The rest wait for a later tick.
      if (this.running.size >= MAX_CONCURRENT_CHECKS) break;
      this.due.set(m.id, now + cfg.interval_seconds * 1000);
      void this.run(snapshot, m, cfg);
    }
    for (const id of this.due.keys()) if (!seen.has(id)) this.due.delete(id);
  }

  private async run(
    snapshot: ConfigSnapshot,
    m: Resource<'models'>,
    cfg: BackgroundCheckView,
  ): Promise<void> {
    this.running.add(m.id);
    try {
      const out = await this.check(snapshot, m, cfg);
      if (out === undefined || this.stopped) return;
      const was = this.rt.health.targetStatus(m.id) === 'unhealthy';
      this.rt.health.recordCheck(m, out.status, out.reason, cfg.stale_after_seconds * 1000);
      const alias = modelView(m).display_name;
      if (out.reason !== undefined && !was)
        this.rt.logger.warn(
          { model: alias, status: out.status, reason: out.reason },
          'background check failed; target unhealthy',
        );
      else if (out.reason === undefined && was)
        this.rt.logger.info({ model: alias, status: out.status }, 'background check passed; target healthy');
    } catch (err) {
      this.rt.logger.error({ err, model: m.id }, 'background check crashed');
    } finally {
      this.running.delete(m.id);
    }
  }

  /** One check; undefined when it cannot run (configuration fault: nothing learnt about the upstream). */
  private async check(
    snapshot: ConfigSnapshot,
    m: Resource<'models'>,
    cfg: BackgroundCheckView,
  ): Promise<CheckOutcome | undefined> {
    const v = modelView(m);
    const upstreamModel = v.model_name;
    if (!upstreamModel || upstreamModel.includes('*')) return undefined;
    const pk = snapshot.byId('provider_keys').get(v.provider_key_id ?? '');
    if (!pk) return undefined;
    const pkv = providerKeyView(pk);
    const adapter = this.rt.registry.resolve(pkv);
    if (!adapter) return undefined;
    const id = randomUUID();
    const dispatcher = this.rt.upstreams.forKey(snapshot, pk.id);
    const prepared = adapter.prepare({
      endpoint: 'chat',
      stream: false,
      body: {
        model: v.display_name,
        messages: [{ role: 'user', content: cfg.prompt }],
        max_tokens: cfg.max_tokens,
      },
      upstreamModel,
      providerKey: pkv,
      requestId: id,
      inboundHeaders: {},
      templateVars: { 'request.id': id },
      userAgent: this.rt.userAgent,
      autoPromptCaching: undefined,
    });
    if (!prepared.ok) return undefined;
    let req: PreparedRequest = prepared.request;
    // No upper bound on timeout_seconds: past a timer's range it means "practically never"
    // (not 1 ms, nor a RangeError from AbortSignal.timeout).
    const signal = AbortSignal.timeout(timerMs(cfg.timeout_seconds * 1000));
    try {
      if (adapter.authorize) {
        const auth = await adapter.authorize(req, {
          providerKey: pkv,
          http: adapterHttpFor(dispatcher),
          now: Date.now(),
        });
        if (!auth.ok) return { status: undefined, reason: 'upstream_auth_failure' };
        req = auth.request;
      }
      const r = await dispatcher.request({
        origin: req.url.origin,
        path: req.url.pathname + req.url.search,
        method: 'POST',
        headers: req.headers,
        body: req.body,
        signal,
      });
      await r.body.dump();
      const s = r.statusCode;
      const passed = (s >= 200 && s < 300) || (cfg.ignore_statuses?.includes(s) ?? false);
      return { status: s, reason: passed ? undefined : statusReason(s) };
    } catch {
      return { status: undefined, reason: signal.aborted ? 'request_timeout' : 'transport_error' };
    }
  }
}
