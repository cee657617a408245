/**
 * What `/v1/realtime` reads from the handshake request before anything else (agents-and-jobs
 * §7.1 step 1, §7.2): whether it is a usable WebSocket upgrade, the caller's token (headers
 * first, then the browser's `openai-insecure-api-key.<token>` subprotocol) and the `model`
 * query parameter.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { errors, type GatewayError } from '../errors.js';
import { extractToken } from '../pipeline/auth.js';

const KEY = /^[+/0-9A-Za-z]{22}==$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KEY_PROTOCOL = 'openai-insecure-api-key.';

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The offered subprotocols; undefined when the header is malformed (RFC 6455 §4.1). */
export function offeredProtocols(h: IncomingHttpHeaders): string[] | undefined {
  const raw = one(h['sec-websocket-protocol']);
  if (raw === undefined) return [];
  const out: string[] = [];
  for (const part of raw.split(',')) {
    const p = part.trim();
    if (!TOKEN.test(p) || out.includes(p)) return undefined;
    out.push(p);
  }
  return out;
}

function hasToken(v: string | undefined, token: string): boolean {
  return (v ?? '').split(',').some((t) => t.trim().toLowerCase() === token);
}

/**
 * Step 1, before authentication. `upgradable`: the request came through the server's upgrade
 * path (a plain request cannot be switched to WebSocket any more: 426).
 */
export function handshakeError(req: IncomingMessage, upgradable: boolean): GatewayError | undefined {
  const method = req.method;
  if (method === 'HEAD') return errors.websocketUpgradeRequired(405, 'HEAD cannot upgrade, use GET');
  if (method !== 'GET') return errors.methodNotAllowed('GET, HEAD');
  const h = req.headers;
  if (!hasToken(one(h.connection), 'upgrade'))
    return errors.websocketUpgradeRequired(400, 'the Connection header must contain `upgrade`');
  if ((one(h.upgrade) ?? '').trim().toLowerCase() !== 'websocket')
    return errors.websocketUpgradeRequired(400, 'the Upgrade header must be `websocket`');
  const version = one(h['sec-websocket-version']);
  if (version !== '13' && version !== '8')
    return errors.websocketUpgradeRequired(400, 'Sec-WebSocket-Version must be 13');
  if (!KEY.test(one(h['sec-websocket-key'])?.trim() ?? ''))
    return errors.websocketUpgradeRequired(400, 'missing or invalid Sec-WebSocket-Key');
  if (offeredProtocols(h) === undefined)
    return errors.websocketUpgradeRequired(400, 'invalid Sec-WebSocket-Protocol header');
  if (!upgradable) return errors.websocketUpgradeRequired(426, 'this connection cannot be upgraded');
  return undefined;
}

/**
 * The caller's token (§7.2): `Authorization` (present but not a Bearer → none, no fallback),
 * `x-api-key`, then the first `openai-insecure-api-key.<token>` subprotocol.
 */
export function realtimeToken(h: IncomingHttpHeaders): string | undefined {
  if (h.authorization !== undefined || h['x-api-key'] !== undefined) return extractToken(h);
  for (const p of offeredProtocols(h) ?? []) {
    if (p.startsWith(KEY_PROTOCOL)) {
      const t = p.slice(KEY_PROTOCOL.length);
      return t === '' ? undefined : t;
    }
  }
  return undefined;
}

/** The trimmed `model` query parameter; undefined when absent or blank. */
export function modelParam(url: string | undefined): string | undefined {
  const q = url === undefined ? -1 : url.indexOf('?');
  if (url === undefined || q === -1) return undefined;
  const v = new URLSearchParams(url.slice(q + 1)).get('model')?.trim();
  return v === undefined || v === '' ? undefined : v;
}
