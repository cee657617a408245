/**
 * One realtime session after the client's 101 (agents-and-jobs §7.3-7.5): connect upstream with
 * the provider key's credentials, relay text and binary frames verbatim both ways, propagate
 * close codes, enforce the idle budget, count usage from upstream events, and settle the request
 * context once (status 200 / 499 / 502 / 504), which commits the tokens to the rate-limit
 * reservation held since before the 101 and emits the usage event, access log and metrics.
 *
 * Backpressure (`pipes.ts`): a side's reads pause while what it sent is still queued towards the
 * other side; frames that arrive while the upstream is
 * still connecting are held (the client's reads are paused meanwhile, so that is at most what
 * was already read). Pings are answered per hop by `ws` and never relayed; they count as
 * frames for the idle budget.
 */
import type { Resource } from '@aisix/core';
import { emptyUsage, type RealtimeRequest, type Usage } from '@aisix/providers';
import type { RawData, WebSocket } from 'ws';
import { errors } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import type { AgentTls } from '../upstream/client.js';
import { closeAttemptTiming, openAttempt } from '../usage/attempts.js';
import type { FrameGuard, Phase } from './guard.js';
import { type LiveSession, MAX_MESSAGE_BYTES, type RealtimeSessions } from './hub.js';
import { Lane, Pipe, Valve } from './pipes.js';
import { addFrameUsage } from './usage.js';
import { CONNECTING, OPEN, ws } from './ws.js';

const CONNECT_FAILED = JSON.stringify({
  type: 'error',
  error: { type: 'upstream_error', message: 'failed to connect to the upstream realtime endpoint' },
});

/** Close codes an endpoint may put in a close frame (RFC 6455 §7.4). */
function sendable(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export interface SessionTarget {
  readonly model: Resource<'models'>;
  readonly provider: string;
  readonly upstreamModel: string;
  readonly providerKeyName: string | undefined;
  readonly request: RealtimeRequest;
  /** The provider key's TLS (its `tls` and the deployment's `upstream.tls`); undefined: defaults. */
  readonly tls: AgentTls | undefined;
  /** No frame either way for this long ends the session (0 = no idle limit). */
  readonly idleMs: number;
  /** Upstream handshake deadline (0 = none). */
  readonly connectMs: number;
  /** Guardrails on text frames; undefined when none apply. */
  readonly guard: FrameGuard | undefined;
}

const blockedFrame = (phase: Phase, guardrail: string) =>
  JSON.stringify({
    type: 'error',
    error: {
      type: 'invalid_request_error',
      code: 'content_filtered',
      message: `${phase === 'input' ? 'request' : 'response'} blocked by content policy (guardrail '${guardrail}')`,
    },
  });

export class Session implements LiveSession {
  private upstream: WebSocket | undefined;
  private open = false;
  private ended = false;
  private readonly usage: Usage = emptyUsage();
  private early: { data: Buffer; binary: boolean }[] | undefined = [];
  private lastFrame = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private clientValve: Valve | undefined;
  private upstreamValve: Valve | undefined;

  constructor(
    private readonly rt: GatewayRuntime,
    private readonly ctx: RequestContext,
    private readonly client: WebSocket,
    private readonly t: SessionTarget,
    private readonly hub: RealtimeSessions,
  ) {}

  start(): void {
    const { rt, ctx, client, t } = this;
    this.hub.add(this);
    ctx.settled = true;
    ctx.attempts = 1;
    // Records the attempt for the usage event (tokens and cost ride on it), as dispatch does.
    if (rt.usage.active) ctx.attemptLog = [];
    openAttempt(ctx, {
      index: 0,
      kind: 'initial',
      model: t.model,
      upstreamModel: t.upstreamModel,
      provider: t.provider,
      providerKeyName: t.providerKeyName,
    });
    // Held until the upstream is open (frames read meanwhile wait in `early`).
    this.clientValve = new Valve(client);
    this.clientValve.hold();
    client.on('message', (data, binary) => this.fromClient(asBuffer(data), binary));
    // Pings and pongs are frames too (§7.4 "no frame in either direction"): answered per hop by
    // `ws`, never relayed, but a peer that keeps the connection alive with them is not idle.
    const touch = () => {
      this.lastFrame = performance.now();
    };
    client.on('ping', touch);
    client.on('pong', touch);
    client.on('close', (code, reason) => this.clientClosed(code, reason));
    client.on('error', (err) =>
      rt.logger.debug({ request_id: ctx.id, err: err.message }, 'realtime client error'),
    );
    const up = new (ws().WebSocket)(t.request.url, {
      headers: t.request.headers,
      perMessageDeflate: false,
      followRedirects: false,
      maxPayload: MAX_MESSAGE_BYTES,
      ...(t.tls !== undefined
        ? {
            rejectUnauthorized: t.tls.rejectUnauthorized,
            ...(t.tls.ca !== undefined ? { ca: [...t.tls.ca] } : {}),
            ...(t.tls.cert !== undefined && t.tls.key !== undefined
              ? { cert: t.tls.cert, key: t.tls.key }
              : {}),
          }
        : {}),
      ...(t.connectMs > 0 ? { handshakeTimeout: t.connectMs } : {}),
    });
    this.upstream = up;
    this.upstreamValve = new Valve(up);
    up.on('open', () => this.upstreamOpen(up));
    up.on('message', (data, binary) => this.fromUpstream(asBuffer(data), binary));
    up.on('ping', touch);
    up.on('pong', touch);
    up.on('error', (err) => this.upstreamError(err));
    up.on('close', (code, reason) => this.upstreamClosed(code, reason));
    // The idle budget starts with the open upstream: until then the handshake deadline
    // (`connectMs`) decides, and its failure is a connect failure (§7.3), not an idle one.
  }

  private upstreamOpen(up: WebSocket): void {
    if (this.ended) {
      up.terminate();
      return;
    }
    this.open = true;
    this.lastFrame = performance.now();
    this.armIdle();
    this.rt.health.recordSuccess(this.t.model.id);
    const clientValve = this.clientValve ?? new Valve(this.client);
    const toUp = new Pipe(clientValve, up);
    const toClient = new Pipe(this.upstreamValve ?? new Valve(up), this.client);
    this.toUpstream = toUp;
    this.toClient = toClient;
    for (const f of this.early ?? []) toUp.send(f.data, f.binary);
    this.early = undefined;
    clientValve.release();
  }

  private toUpstream: Pipe | undefined;
  private toClient: Pipe | undefined;

  private fromClient(data: Buffer, binary: boolean): void {
    this.lastFrame = performance.now();
    const guard = this.t.guard;
    if (guard === undefined) {
      this.toUpstreamNow(data, binary);
      return;
    }
    this.clientValve ??= new Valve(this.client);
    this.inLane ??= new Lane(this.clientValve);
    const verdict = binary ? undefined : guard.check('input', data);
    this.inLane.push(data.length, verdict, (v) => {
      if (v !== undefined) this.block('input', v);
      else this.toUpstreamNow(data, binary);
    });
  }

  private toUpstreamNow(data: Buffer, binary: boolean): void {
    if (this.ended) return;
    if (this.toUpstream !== undefined) this.toUpstream.send(data, binary);
    else this.early?.push({ data, binary });
  }

  private fromUpstream(data: Buffer, binary: boolean): void {
    this.lastFrame = performance.now();
    if (!binary) addFrameUsage(data, this.usage);
    const guard = this.t.guard;
    const up = this.upstream;
    if (guard === undefined || up === undefined) {
      this.toClient?.send(data, binary);
      return;
    }
    this.upstreamValve ??= new Valve(up);
    this.outLane ??= new Lane(this.upstreamValve);
    const verdict = binary ? undefined : guard.check('output', data);
    this.outLane.push(data.length, verdict, (v) => {
      if (this.ended) return;
      if (v !== undefined) this.block('output', v);
      else this.toClient?.send(data, binary);
    });
  }

  private inLane: Lane | undefined;
  private outLane: Lane | undefined;

  /** A guardrail blocked a frame: an error event to the client, 1011 `content policy`, status 400. */
  private block(phase: Phase, guardrail: string): void {
    if (this.ended) return;
    if (this.client.readyState === OPEN) this.client.send(blockedFrame(phase, guardrail));
    this.closeClient(1011, 'content policy');
    const up = this.upstream;
    if (up?.readyState === OPEN) up.close(1000, 'content policy');
    else up?.terminate();
    this.end(
      400,
      'content_filter',
      `${phase === 'input' ? 'request' : 'response'} blocked by content policy (guardrail '${guardrail}')`,
    );
  }

  private clientClosed(code: number, reason: Buffer): void {
    const up = this.upstream;
    if (!this.open) {
      up?.terminate();
      this.end(499, 'client_disconnected', 'client closed the connection before the upstream answered');
      return;
    }
    if (up !== undefined && up.readyState === OPEN) {
      if (sendable(code)) up.close(code, reason);
      else if (code === 1005) up.close();
      else up.close(1001, 'client gone');
    }
    this.end(200);
  }

  private upstreamError(err: Error): void {
    if (this.ended) return;
    const { rt, ctx, t } = this;
    if (!this.open) {
      // Handshake refused (non-101), unreachable or timed out: one error frame, then 1011.
      const status = /Unexpected server response: (\d{3})/.exec(err.message)?.[1];
      const failure = {
        error: errors.transport(),
        retryable: true,
        timeout: /timed out/i.test(err.message),
        ...(status !== undefined ? { status: Number(status) } : {}),
      };
      const view = modelView(t.model);
      rt.health.recordFailure(t.model, failure, {
        provider: t.provider,
        model: view.display_name,
        // The deployment's label (the configured name), as dispatch's `recordAttemptFailure`.
        upstream_model: view.model_name ?? t.upstreamModel,
        provider_key_id: view.provider_key_id ?? '',
      });
      rt.logger.warn(
        { request_id: ctx.id, provider: t.provider, cause: err.message },
        'realtime upstream connection failed',
      );
      closeAttemptTiming(ctx, { ok: false, failure }, false);
      if (this.client.readyState === OPEN) {
        this.client.send(CONNECT_FAILED);
        this.closeClient(1011, 'upstream connect failed');
      }
      this.end(502, 'upstream_error', 'failed to connect to the upstream realtime endpoint');
      return;
    }
    rt.logger.warn(
      { request_id: ctx.id, provider: t.provider, cause: err.message },
      'realtime upstream error',
    );
    this.upstream?.terminate();
    this.closeClient(1011, 'upstream error');
    this.end(502, 'upstream_error', 'upstream error');
  }

  private upstreamClosed(code: number, reason: Buffer): void {
    if (this.ended || !this.open) return;
    if (code === 1006) {
      this.closeClient(1011, 'upstream error');
      this.end(502, 'upstream_error', 'upstream connection closed abnormally');
      return;
    }
    if (sendable(code)) this.closeClient(code, reason);
    else if (code === 1005) this.closeClient();
    else this.closeClient(1011, 'upstream error');
    this.end(code === 1011 ? 502 : 200);
  }

  private closeClient(code?: number, reason?: Buffer | string): void {
    const c = this.client;
    if (c.readyState !== OPEN && c.readyState !== CONNECTING) return;
    // Reads were paused while the upstream connected: the closing handshake needs them.
    c.resume();
    if (code === undefined) c.close();
    else c.close(code, reason);
  }

  /** No frame either way for the idle budget: 1001 to both sides (§7.4), status 504. */
  private armIdle(): void {
    const ms = this.t.idleMs;
    if (ms <= 0) return;
    const check = () => {
      if (this.ended) return;
      const idle = performance.now() - this.lastFrame;
      if (idle < ms) {
        this.idleTimer = setTimeout(check, ms - idle);
        return;
      }
      this.upstream?.close(1001, 'idle timeout');
      this.closeClient(1001, 'idle timeout');
      this.end(504, 'timeout', `no frame for ${ms}ms`);
    };
    this.idleTimer = setTimeout(check, ms);
  }

  /** The gateway is stopping: 1001 to both sides (or cut them at once). */
  shutdown(hard: boolean): void {
    if (hard) {
      this.upstream?.terminate();
      this.client.terminate();
    } else {
      if (this.upstream?.readyState === OPEN) this.upstream.close(1001, 'server shutting down');
      else this.upstream?.terminate();
      this.closeClient(1001, 'server shutting down');
    }
    this.end(200);
  }

  /** Settles the request context once: the completion hook runs on the response's `close`. */
  private end(status: number, errorType?: string, message?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.hub.delete(this);
    const ctx = this.ctx;
    if (this.open) closeAttemptTiming(ctx, undefined, true);
    ctx.usage = this.usage;
    if (errorType !== undefined) {
      ctx.errorType = errorType;
      ctx.errorMessage = message;
    }
    ctx.sessionStatus = status;
    ctx.res.emit('close');
  }
}
