/**
 * The outbound HTTP layer: one undici `Agent` (a keep-alive `Pool` per upstream origin) used
 * through `dispatch()` with our own handlers on the chat/embeddings hot path (`UpstreamCall`),
 * and `request()` elsewhere — never `fetch`, whose web streams cost several times more per
 * request. undici's own header/body timeouts are off: deadlines are the gateway's per-request
 * timers (request deadline, stream budget), delivered as an abort with a typed reason.
 */

import type { PreparedRequest } from '@aisix/providers';
import { Agent, type Dispatcher } from 'undici';
import type { Settings } from '../config.js';

/** Abort reasons the gateway distinguishes. */
export const ABORT_TIMEOUT = Symbol('upstream-timeout');
export const ABORT_CLIENT_GONE = Symbol('client-gone');

const DAY_MS = 24 * 3600 * 1000;

/** TLS options of one pool (`upstream.tls`, a provider key's `tls`: `dispatchers.ts`). */
export interface AgentTls {
  readonly ca?: readonly string[];
  readonly rejectUnauthorized: boolean;
  /** Client certificate and key (mTLS), PEM. */
  readonly cert?: string;
  readonly key?: string;
}

export function createAgent(s: Settings, tls?: AgentTls): Agent {
  // 0 = off: keep idle connections (a day stands in for "forever").
  const idle = s.poolIdleTimeoutMs > 0 ? s.poolIdleTimeoutMs : DAY_MS;
  return new Agent({
    connect: {
      ...(s.connectTimeoutMs > 0 ? { timeout: s.connectTimeoutMs } : { timeout: 0 }),
      keepAlive: s.tcpKeepAliveSecs > 0,
      keepAliveInitialDelay: s.tcpKeepAliveSecs * 1000,
      ...(tls
        ? {
            rejectUnauthorized: tls.rejectUnauthorized,
            ...(tls.ca ? { ca: [...tls.ca] } : {}),
            ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
          }
        : {}),
    },
    keepAliveTimeout: idle,
    keepAliveMaxTimeout: idle,
    keepAliveTimeoutThreshold: 0,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
}

/** One prepared upstream POST through undici's request API (`body`: the prepared one unless given). */
export function sendUpstream(
  dispatcher: Dispatcher,
  p: PreparedRequest,
  signal: AbortSignal | undefined,
  body: string | Buffer = p.body,
): Promise<Dispatcher.ResponseData> {
  return dispatcher.request({
    origin: p.url.origin,
    path: p.url.pathname + p.url.search,
    method: 'POST',
    headers: p.headers,
    body,
    ...(signal !== undefined ? { signal } : {}),
  });
}

export type AbortReason = typeof ABORT_TIMEOUT | typeof ABORT_CLIENT_GONE;

/** Origin and path of prepared URLs (adapters reuse URL objects; URL getters re-serialize). */
const urlParts = new WeakMap<URL, { readonly origin: string; readonly path: string }>();

/** `Agent.dispatch` options of one prepared upstream POST. */
export function dispatchOptions(p: PreparedRequest): Dispatcher.DispatchOptions {
  const u = p.url;
  let parts = urlParts.get(u);
  if (parts === undefined) {
    parts = { origin: u.origin, path: u.pathname + u.search };
    urlParts.set(u, parts);
  }
  return { origin: parts.origin, path: parts.path, method: 'POST', headers: p.headers, body: p.body };
}

/**
 * Base of the upstream call handlers: one `Agent.dispatch` with a handler object (undici's
 * controller API) instead of `request()`, so no AbortSignal + listener, no Readable body and no
 * promise per step. `abort(reason)` cuts the call short at any time: with a live request the
 * controller aborts it (its socket closes) and `onResponseError` follows synchronously; before
 * the request reached a socket, `aborted(reason)` runs at once and the request is aborted when
 * it gets one. Subclasses settle once (`settled`); later callbacks are ignored.
 */
export abstract class UpstreamCall implements Dispatcher.DispatchHandler {
  /** Why the gateway aborted the call, if it did. */
  reason: AbortReason | undefined;
  settled = false;
  protected controller: Dispatcher.DispatchController | undefined;

  abort(reason: AbortReason): void {
    if (this.reason !== undefined || this.settled) return;
    this.reason = reason;
    const c = this.controller;
    if (c) c.abort(abortError(reason));
    else this.aborted(reason);
  }

  /** The call was aborted before it had a socket. */
  protected abstract aborted(reason: AbortReason): void;

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.reason !== undefined) controller.abort(abortError(this.reason));
  }
}

function abortError(reason: AbortReason): Error {
  return new Error(reason === ABORT_TIMEOUT ? 'upstream deadline' : 'client gone');
}

/** Reads at most `max` bytes of a body as UTF-8, then discards the rest. */
export async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = c as Buffer;
    const room = max - size;
    if (b.length >= room) {
      chunks.push(b.subarray(0, room));
      size = max;
      body.destroy();
      break;
    }
    chunks.push(b);
    size += b.length;
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/**
 * The whole body when it is at most `max` bytes, else undefined: the rest is not read, the body
 * is destroyed (which aborts the download). A declared `Content-Length` over `max` is refused
 * before any byte is read.
 */
export async function readWhole(r: Dispatcher.ResponseData, max: number): Promise<Buffer | undefined> {
  const declared = r.headers['content-length'];
  if (typeof declared === 'string' && Number(declared) > max) {
    r.body.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of r.body) {
    const b = c as Buffer;
    size += b.length;
    if (size > max) {
      r.body.destroy();
      return undefined;
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

/** Short, host-free description of a transport failure (for logs only). */
export function describeTransportError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; name?: unknown; message?: unknown };
    return [e.code, e.name, e.message].filter((x) => typeof x === 'string').join(': ');
  }
  return String(err);
}
