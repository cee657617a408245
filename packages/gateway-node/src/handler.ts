/**
 * The proxy request handler on raw node:http (no framework on the hot path): a table router by
 * exact path, then method; the request id, `Server` header, in-flight accounting, body-size
 * guard and completion hook wrap every route the same way.
 *
 * `createProxyHandler` builds everything a worker needs, so the CLI can run it in node:cluster
 * workers; `createProxyServer` wraps it in an `http.Server` with the timeouts and the
 * `clientError` hook (malformed requests, duplicate Content-Length) answered in our envelope.
 */

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MemoryCacheStore } from '@aisix/cache';
import { type CounterStore, Limiter, MemoryCounterStore } from '@aisix/limits';
import { type AdapterRegistry, defaultRegistry } from '@aisix/providers';
import type { Logger } from 'pino';
import { JwtAuthenticator } from './auth/jwt.js';
import { type GatewayConfig, resolveSettings } from './config.js';
import { DeferredBatch } from './deferred-batch.js';
import { errors, type GatewayError } from './errors.js';
import { upstreamHttp } from './guardrails/remote/http.js';
import { BackgroundChecks } from './health/background.js';
import { ModelHealthTracker } from './health/tracker.js';
import { drainBody } from './http/body.js';
import { closingResponse, parseRawHead, refusedExchange } from './http/client-error.js';
import { sendError } from './http/respond.js';
import { compileUrlRewrites } from './http/rewrite.js';
import { type GuardrailInterceptor, guardrailInterceptor } from './interceptors/guardrails.js';
import { rateLimitInterceptor } from './interceptors/rate-limits.js';
import { type CacheStores, responseCacheInterceptor } from './interceptors/response-cache.js';
import { Metrics } from './metrics.js';
import { compileCidrs } from './pipeline/access.js';
import { type EndpointLabel, newContext, type RequestContext } from './pipeline/context.js';
import { finishRequest, recordFinished } from './pipeline/finish.js';
import { type Interceptor, Lifecycle } from './pipeline/lifecycle.js';
import { TargetStats } from './pipeline/target-stats.js';
import { createRealtimeHub } from './realtime/hub.js';
import { serveWithoutUpgrade, upgradeResponse } from './realtime/upgrade.js';
import { resolveRoute } from './routes.js';
import type { GatewayRuntime } from './runtime.js';
import type { SnapshotSource } from './snapshot-source.js';
import type { Tracer } from './tracing/tracer.js';
import { readUpstreamTls, UpstreamDispatchers, type UpstreamTls } from './upstream/dispatchers.js';
import { upstreamNet } from './upstream/net.js';
import { UsageBus } from './usage/bus.js';
import { Exporters } from './usage/exporters.js';

export interface ProxyHandlerOptions {
  readonly config: GatewayConfig;
  readonly snapshots: SnapshotSource;
  readonly logger: Logger;
  /** Gateway version for `Server: AISIX/<version>`. */
  readonly version: string;
  /** Adapter registry; defaults to `@aisix/providers` `defaultRegistry`. */
  readonly registry?: AdapterRegistry;
  /** Rate-limit counters (`@aisix/limits`); absent: this process's memory. */
  readonly rateLimitStore?: CounterStore;
  /** Response-cache stores; absent: this process's memory only. */
  readonly cacheStores?: CacheStores;
  /**
   * Request interceptors in order (`pipeline/lifecycle.ts`). Absent: the built-in set (guardrails,
   * rate limits, then the response cache) over the stores above.
   */
  readonly interceptors?: readonly Interceptor[];
  /** Slow-loris guard: max silence while reading a request body (default 10 s). */
  readonly bodyIdleTimeoutMs?: number;
  /** Request tracing (`tracing/index.ts` `createTracing`); absent = off. */
  readonly tracer?: Tracer | undefined;
  /** config.yaml `upstream.tls`, files read by the caller; absent: system roots, verify on. */
  readonly upstreamTls?: UpstreamTls | undefined;
}

export interface ProxyHandler {
  readonly handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Answers parser-level failures in the OpenAI envelope (attach to `clientError`). */
  readonly onClientError: (err: Error & { code?: string }, socket: Duplex) => void;
  /** The server's `connect` event: CONNECT is refused in the envelope (attach to `connect`). */
  readonly onConnect: (req: IncomingMessage, socket: Duplex) => void;
  /** The server's `upgrade` event: `/v1/realtime` handshakes; other paths are served as plain HTTP. */
  readonly onUpgrade: (server: Server, req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Ends every realtime session: 1001 to both sides, or cut at once (`hard`). */
  closeSessions(hard: boolean): void;
  readonly metrics: Metrics;
  readonly runtime: GatewayRuntime;
  /** Requests currently in flight. */
  readonly inFlight: number;
  /** Flips `/livez` + `/readyz` to 503 and asks clients to close connections. */
  setDraining(draining: boolean): void;
  /** Resolves true once no request is in flight, false when `timeoutMs` passed first. */
  whenIdle(timeoutMs: number): Promise<boolean>;
  /** Closes upstream connections. */
  close(): Promise<void>;
}

interface Built {
  readonly rt: GatewayRuntime;
  /** Stores the handler made itself (closed with it); the caller closes the ones it passed. */
  readonly owned: readonly { close(): Promise<void> }[];
}

function buildRuntime(o: ProxyHandlerOptions): Built {
  const settings = resolveSettings(o.config);
  const metrics = new Metrics(settings);
  const owned: { close(): Promise<void> }[] = [];
  // The CLI reads `upstream.tls` at boot; an embedder's config is read here.
  const upstreams = new UpstreamDispatchers(
    settings,
    o.logger,
    o.upstreamTls ?? readUpstreamTls(settings.upstreamTls),
  );
  let interceptors = o.interceptors;
  let store = o.rateLimitStore;
  if (store === undefined) {
    store = new MemoryCounterStore();
    owned.push(store);
  }
  if (interceptors === undefined) {
    let stores = o.cacheStores;
    if (stores === undefined) {
      const memory = new MemoryCacheStore();
      owned.push(memory);
      stores = { memory };
    }
    // Guardrails first: a blocked prompt uses no quota, and the cache keys and stores masked text.
    interceptors = [
      guardrailInterceptor({
        metrics,
        logger: o.logger,
        bedrockEndpointUrl: o.config.bedrock_endpoint_url,
        http: upstreamHttp(upstreams.base),
      }),
      rateLimitInterceptor({ store, metrics, logger: o.logger }),
      responseCacheInterceptor({ stores, metrics, logger: o.logger, runtime: () => rt }),
    ];
  }
  const usage = new UsageBus(metrics);
  if (!settings.upstreamTls.verify)
    o.logger.warn(
      { key: 'upstream.tls.verify' },
      'upstream TLS certificate verification is off: any server certificate is accepted',
    );
  const rt: GatewayRuntime = {
    settings,
    snapshots: o.snapshots,
    upstreams,
    registry: o.registry ?? defaultRegistry,
    metrics,
    logger: o.logger,
    ident: {
      server: `AISIX/${o.version}`,
      draining: false,
      logger: o.logger,
      bodyIdleMs: o.bodyIdleTimeoutMs ?? 10_000,
    },
    realIp: {
      trusted: settings.trustedProxies.length > 0 ? compileCidrs(settings.trustedProxies) : undefined,
      header: settings.realIpHeader,
      recursive: settings.realIpRecursive,
    },
    userAgent: `aisix/${o.version}`,
    bodyIdleMs: o.bodyIdleTimeoutMs ?? 10_000,
    lifecycle: new Lifecycle(interceptors, (name, err) =>
      o.logger.error({ interceptor: name, err }, 'interceptor could not compile this config snapshot'),
    ),
    health: new ModelHealthTracker(),
    targets: new TargetStats(),
    jwt: new JwtAuthenticator({ fetch: upstreamNet(upstreams.base) }),
    tracer: o.tracer,
    usage,
    finished: new DeferredBatch(FINISHED_BATCH, FINISHED_DELAY_MS, (all) => recordFinished(rt, all)),
    exporters: new Exporters(usage, o.version, o.logger),
    limiter: new Limiter(store),
    guardrails: interceptors.find((i): i is GuardrailInterceptor => 'surface' in i)?.surface,
    realtime: createRealtimeHub(`AISIX/${o.version}`),
  };
  // A scrape (or a cluster worker's snapshot) sees every request that has finished.
  metrics.beforeRead(rt.finished.flush);
  usage.beforeSinksChange(rt.finished.flush);
  return { rt, owned };
}

/** Finished requests recorded together (`GatewayRuntime.finished`). */
const FINISHED_BATCH = 64;
const FINISHED_DELAY_MS = 20;

function clientErrorFor(code: string | undefined): GatewayError {
  switch (code) {
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_CONTENT_LENGTH':
      return errors.conflictingContentLength();
    case 'HPE_HEADER_OVERFLOW':
      return errors.headersTooLarge();
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return errors.bodyTimeout();
    default:
      return errors.invalidBody('malformed HTTP request');
  }
}

export function createProxyHandler(o: ProxyHandlerOptions): ProxyHandler {
  const { rt, owned } = buildRuntime(o);
  const checks = new BackgroundChecks(rt);
  checks.start();
  // undefined without rules: the request path then pays one comparison.
  const rewritePath = compileUrlRewrites(o.config.proxy.url_rewrites);
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];

  const onClose = (ctx: RequestContext) => {
    inFlight--;
    finishRequest(rt, ctx);
    if (inFlight === 0 && idleWaiters.length > 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const f of w) f();
    }
  };

  /** The request's routing path, after `url_rewrites` (which also rewrite `req.url`). */
  const pathOf = (req: IncomingMessage): string => {
    let url = req.url ?? '/';
    if (url.charCodeAt(0) !== 0x2f) {
      url = originForm(url);
      req.url = url;
    }
    const q = url.indexOf('?');
    let path = q === -1 ? url : url.slice(0, q);
    if (rewritePath !== undefined) {
      const to = rewritePath(path);
      if (to !== path) {
        path = to;
        req.url = q === -1 ? to : to + url.slice(q);
      }
    }
    return path;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => serve(req, res, pathOf(req));

  const onUpgrade = (server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url ?? '/';
    const path = pathOf(req);
    if (resolveRoute(path)?.route.kind === 'realtime') serve(req, upgradeResponse(req, socket, head), path);
    else serveWithoutUpgrade(server, req, url, socket, head);
  };

  const serve = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    const resolved = resolveRoute(path);
    const route = resolved?.route;
    const label: EndpointLabel = resolved?.label ?? 'other';
    const ctx = newContext(randomUUID(), req, res, path, label, route, rt.snapshots.current());
    inFlight++;
    rt.metrics.started(ctx.endpoint);
    res.once('close', () => onClose(ctx));
    if (!route) return void sendError(ctx, rt.ident, errors.notFound());
    // HEAD is GET without the body (RFC 9110 §9.3.2; node never writes a body on a HEAD
    // response), so every GET route answers it, as the reference's routes do.
    const method = req.method === 'HEAD' && route.method === 'GET' ? 'GET' : req.method;
    if (route.method !== 'ANY' && method !== route.method)
      return void sendError(ctx, rt.ident, errors.methodNotAllowed());
    const limit = rt.settings.bodyLimit;
    if (limit > 0 && Number(req.headers['content-length'] ?? 0) > limit) {
      sendError(ctx, rt.ident, errors.bodyTooLarge(limit));
      drainBody(req, (outcome) => rt.metrics.bodyLimitRejected(ctx.endpoint, outcome));
      return;
    }
    const p = route.run(rt, ctx);
    if (p) {
      p.catch((err: unknown) => {
        rt.logger.error({ request_id: ctx.id, err }, 'request handler failed');
        if (!res.headersSent) sendError(ctx, rt.ident, errors.internal());
        else res.destroy();
      });
    }
  };

  const onClientError = (err: Error & { code?: string; rawPacket?: unknown }, socket: Duplex): void => {
    // A request already in flight owns the socket's response (the client closed its side mid-body,
    // say): no second response can be assigned to it (node throws, which would end the process).
    // The body can no longer arrive, so the socket is closed and that request sees its client go.
    const owned = (socket as { _httpMessage?: unknown })._httpMessage != null;
    if (err.code === 'ECONNRESET' || !socket.writable || owned) {
      socket.destroy();
      return;
    }
    // Answered, logged and counted like any request, in its route's envelope (client-error.ts).
    const { req, res } = refusedExchange(socket, parseRawHead(err.rawPacket));
    refuse(req, res, pathOf(req), clientErrorFor(err.code));
  };

  /** A request that runs no route, answered with `e` and recorded like any request. */
  const refuse = (req: IncomingMessage, res: ServerResponse, path: string, e: GatewayError): void => {
    const resolved = resolveRoute(path);
    const ctx = newContext(
      randomUUID(),
      req,
      res,
      path,
      resolved?.label ?? 'other',
      resolved?.route,
      rt.snapshots.current(),
    );
    inFlight++;
    rt.metrics.started(ctx.endpoint);
    res.once('close', () => onClose(ctx));
    sendError(ctx, rt.ident, e);
  };

  // node:http hands CONNECT to the `connect` event and, without a listener, drops the connection
  // unanswered. The gateway is no forward proxy: the authority a CONNECT names (RFC 9112 §3.2.3)
  // is no route (404); a CONNECT naming a path instead is a malformed request (400).
  const onConnect = (req: IncomingMessage, socket: Duplex): void => {
    const path = pathOf(req);
    const e = path.charCodeAt(0) === 0x2f ? errors.invalidBody('malformed HTTP request') : errors.notFound();
    refuse(req, closingResponse(req, socket), path, e);
  };

  return {
    handle,
    onClientError,
    onConnect,
    onUpgrade,
    closeSessions(hard) {
      if (hard) rt.realtime.sessions.terminateAll();
      else rt.realtime.sessions.closeAll();
    },
    metrics: rt.metrics,
    runtime: rt,
    get inFlight() {
      return inFlight;
    },
    setDraining(d) {
      rt.ident.draining = d;
    },
    whenIdle(timeoutMs) {
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        idleWaiters.push(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    },
    async close() {
      checks.stop();
      rt.realtime.sessions.terminateAll();
      // Usage events of the last requests reach the exporters before they send what they hold.
      rt.finished.flush();
      await rt.exporters.close();
      await rt.upstreams.close();
      await Promise.allSettled(owned.map((s) => s.close()));
    },
  };
}

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/**
 * A request target in absolute form (`GET http://host/v1/models`), which a server must accept
 * (RFC 9112 §3.2.2), as its origin form (`/v1/models`, query kept): routes and handlers read
 * `req.url` as a path. Other targets (`*`) are left alone and match no route.
 */
function originForm(url: string): string {
  const m = ABSOLUTE_FORM.exec(url);
  if (m === null) return url;
  const rest = url.slice(m[0].length);
  return rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
}

function rememberPeer(socket: Socket): void {
  void socket.remoteAddress;
}

/** PEM material of a listener's certificate (`proxy.tls` / `admin.tls`), already read. */
export interface ServerTls {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
}

/**
 * An `http.Server` around the handler, with timeouts suited to long streams and slow uploads;
 * with `tls` an HTTPS server (same handler, same timeouts).
 */
export function createProxyServer(h: ProxyHandler, tls?: ServerTls): Server {
  const opts = { requestTimeout: 0, headersTimeout: 60_000 };
  const server: Server = tls
    ? createHttpsServer({ ...opts, cert: tls.cert, key: tls.key }, h.handle)
    : createServer(opts, h.handle);
  // 0 = never close an idle keep-alive connection (not node's 5 s default).
  server.keepAliveTimeout = h.runtime.settings.idleTimeoutMs;
  server.on('clientError', h.onClientError);
  server.on('connect', h.onConnect);
  // An expectation other than 100-continue: node would answer a bare 417 without our headers,
  // envelope or log line; it is ignored and the request served, as the reference does (RFC 9110
  // §10.1.1 makes the 417 optional).
  server.on('checkExpectation', h.handle);
  // The peer address is read once per connection (node keeps it on the socket): a request whose
  // caller leaves is recorded after its socket is gone, and must still know who the caller was.
  server.on(tls ? 'secureConnection' : 'connection', rememberPeer);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    h.onUpgrade(server, req, socket, head),
  );
  return server;
}
