/**
 * Writing responses. Every proxy response goes through `baseHeaders`, so `Server` and
 * `x-aisix-request-id` are on all of them (errors, 404s, health checks, streams). Every success
 * of a model endpoint (a JSON answer, a stream head, a passthrough answer, an answer given by an
 * interceptor) goes through `successHeaders`, the one place that adds the call id, the serving
 * group member and the request scopes' headers (`x-ratelimit-*`, `x-aisix-cache`...). Headers
 * are handed to `writeHead` as one object: the fast path of node:http.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import { type GatewayError, renderError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { addHeaders } from '../pipeline/scopes.js';
import { drainUnread } from './body.js';

export interface ResponseIdentity {
  /** `AISIX/<version>`. */
  readonly server: string;
  /** While draining, responses ask the client to close the connection. */
  draining: boolean;
  /** Where scope hook failures are logged. */
  readonly logger: Logger;
  /** `downstream` body idle timeout: bounds the drain of a body a response did not wait for. */
  readonly bodyIdleMs: number;
}

export function baseHeaders(
  ctx: RequestContext,
  ident: ResponseIdentity,
  extra: OutgoingHttpHeaders,
): OutgoingHttpHeaders {
  extra.server = ident.server;
  extra['x-aisix-request-id'] = ctx.id;
  if (ident.draining) extra.connection = 'close';
  return extra;
}

/** Visible ASCII and spaces, not at either end: what a header value may carry as is. */
const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** The head of a model endpoint's success: base headers, call id, served-by, scope headers. */
export function successHeaders(
  ctx: RequestContext,
  ident: ResponseIdentity,
  extra: OutgoingHttpHeaders,
): OutgoingHttpHeaders {
  extra['x-aisix-call-id'] = ctx.id;
  // An alias that is not a plain header value is left out (data-plane §4.2), not sent raw.
  if (ctx.servedBy && HEADER_SAFE.test(ctx.servedBy)) extra['x-aisix-served-by'] = ctx.servedBy;
  if (ctx.semanticRoute && HEADER_SAFE.test(ctx.semanticRoute)) extra['x-aisix-route'] = ctx.semanticRoute;
  if (ctx.scopes !== undefined) addHeaders(ident.logger, ctx.id, ctx.scopes, extra);
  return baseHeaders(ctx, ident, extra);
}

/**
 * A fresh head for an event stream the gateway writes. A literal, not a spread of a shared
 * object: V8 pretenured the spread's allocation site (every stream head went straight to the old
 * generation: 2-3x the GC time per stream under load).
 */
export function sseHeaders(): OutgoingHttpHeaders {
  return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
}

/** Writes the head of a success stream (the body follows). */
export function writeStreamHead(ctx: RequestContext, ident: ResponseIdentity): void {
  ctx.settled = true;
  ctx.res.writeHead(200, successHeaders(ctx, ident, sseHeaders()));
}

function drainAfter(ctx: RequestContext, idleMs: number): void {
  const { req, res } = ctx;
  res.once('finish', () => {
    if (res.shouldKeepAlive) drainUnread(req, idleMs);
  });
}

function send(
  ctx: RequestContext,
  ident: ResponseIdentity,
  status: number,
  contentType: string,
  body: string,
  headers: OutgoingHttpHeaders,
): void {
  const res = ctx.res;
  if (res.headersSent || res.destroyed) return;
  ctx.settled = true;
  // Answered before its body was read (a 401, 404 or 405): once the answer is out, the rest of
  // the body is drained, bounded, or node would wait for it with no deadline at all. Successes
  // have read their body: one property read.
  if (!ctx.req.complete) drainAfter(ctx, ident.bodyIdleMs);
  headers['content-type'] = contentType;
  headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(status, headers);
  res.end(body);
}

export function sendBody(
  ctx: RequestContext,
  ident: ResponseIdentity,
  status: number,
  contentType: string,
  body: string,
  extra: OutgoingHttpHeaders = {},
): void {
  send(ctx, ident, status, contentType, body, baseHeaders(ctx, ident, extra));
}

/**
 * A plain-text refusal (the MCP and A2A endpoints answer their transport errors this way): the
 * text is also what the access log and usage events record as the error.
 */
export function sendTextError(
  ctx: RequestContext,
  ident: ResponseIdentity,
  status: number,
  body: string,
  extra?: OutgoingHttpHeaders,
): void {
  ctx.errorMessage = body;
  sendBody(ctx, ident, status, 'text/plain; charset=utf-8', body, extra);
}

/** A JSON answer outside the model pipeline (`/v1/models`, errors). */
export function sendJson(
  ctx: RequestContext,
  ident: ResponseIdentity,
  status: number,
  body: string,
  extra?: OutgoingHttpHeaders,
): void {
  sendBody(ctx, ident, status, 'application/json', body, extra);
}

/** A model endpoint's JSON success. */
export function sendSuccessJson(
  ctx: RequestContext,
  ident: ResponseIdentity,
  body: string,
  extra: OutgoingHttpHeaders = {},
): void {
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  send(ctx, ident, 200, 'application/json', body, successHeaders(ctx, ident, extra));
}

/** A model endpoint's success whose bytes are written whole at once (a replayed stream). */
export function sendSuccessBody(
  ctx: RequestContext,
  ident: ResponseIdentity,
  body: string,
  extra: OutgoingHttpHeaders,
): void {
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  const contentType = String(extra['content-type'] ?? 'application/octet-stream');
  send(ctx, ident, 200, contentType, body, successHeaders(ctx, ident, extra));
}

/** Renders a catalogue error in the route's envelope; records it for the access log. */
export function sendError(ctx: RequestContext, ident: ResponseIdentity, e: GatewayError): void {
  ctx.errorType = e.type;
  ctx.errorMessage = e.message;
  const extra: OutgoingHttpHeaders = e.headers ? { ...e.headers } : {};
  const route = ctx.route;
  // A 405 means the path matched a route: its method is the one allowed (HEAD with GET).
  if (e.status === 405) extra.allow ??= route?.method === 'GET' ? 'GET, HEAD' : (route?.method ?? 'POST');
  // Unrouted paths under /v1/messages/ still get the Anthropic envelope (OP-1).
  const anthropic = route ? route.envelope === 'anthropic' : ctx.path.startsWith('/v1/messages/');
  sendJson(ctx, ident, e.status, renderError(e, anthropic), extra);
}
