/**
 * Writing responses. Every proxy response goes through `baseHeaders`, so `Server` and
 * `x-aisix-request-id` are on all of them (errors, 404s, health checks, streams). Headers are
 * handed to `writeHead` as one object: the fast path of node:http.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { type GatewayError, renderError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';

export interface ResponseIdentity {
  /** `AISIX/<version>`. */
  readonly server: string;
  /** While draining, responses ask the client to close the connection. */
  draining: boolean;
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

export function sendBody(
  ctx: RequestContext,
  ident: ResponseIdentity,
  status: number,
  contentType: string,
  body: string,
  extra: OutgoingHttpHeaders = {},
): void {
  const res = ctx.res;
  if (res.headersSent || res.destroyed) return;
  ctx.settled = true;
  extra['content-type'] = contentType;
  extra['content-length'] = Buffer.byteLength(body);
  res.writeHead(status, baseHeaders(ctx, ident, extra));
  res.end(body);
}

export function sendJson(
  ctx: RequestContext,
  ident: ResponseIdentity,
  status: number,
  body: string,
  extra?: OutgoingHttpHeaders,
): void {
  sendBody(ctx, ident, status, 'application/json', body, extra);
}

/** Renders a catalogue error; records it for the access log. */
export function sendError(ctx: RequestContext, ident: ResponseIdentity, e: GatewayError): void {
  ctx.errorType = e.type;
  ctx.errorMessage = e.message;
  const extra: OutgoingHttpHeaders = e.headers ? { ...e.headers } : {};
  if (e.status === 405) extra.allow = allowFor(ctx.path);
  const anthropic = ctx.path === '/v1/messages' || ctx.path.startsWith('/v1/messages/');
  sendJson(ctx, ident, e.status, renderError(e, anthropic), extra);
}

function allowFor(path: string): string {
  return path === '/v1/models' || path === '/livez' || path === '/readyz' ? 'GET' : 'POST';
}
