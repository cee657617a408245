/**
 * Header rules of the raw tunnel, both ways. Inbound: everything the caller sent except the
 * hop-by-hop set (and the names its `Connection` header lists), framing the gateway recomputes,
 * the gateway's own `x-aisix-*` headers, the caller's gateway credential (`authorization`,
 * `x-api-key`: a gateway key never leaves the gateway) and the key's `strip_headers`. Outbound:
 * the upstream's headers except hop-by-hop ones, `server`, `date` and the key's `strip_headers`
 * (`set-cookie` by default); `server` and the request id are the gateway's.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Recomputed or owned by the gateway on the way up. */
const NOT_FORWARDED = new Set(['host', 'content-length', 'expect', 'authorization', 'x-api-key']);

/** Never relayed down: the gateway writes its own. */
const NOT_RELAYED = new Set(['server', 'date', 'x-aisix-request-id']);

function connectionTokens(v: string | string[] | undefined): Set<string> | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v.join(',') : v;
  return new Set(
    s
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
}

/** The caller headers forwarded upstream (lower-case names, one value each). */
export function forwardedHeaders(
  inbound: IncomingHttpHeaders,
  strip: readonly string[],
): Record<string, string> {
  const listed = connectionTokens(inbound.connection);
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(inbound)) {
    if (v === undefined || HOP_BY_HOP.has(name) || NOT_FORWARDED.has(name)) continue;
    if (name.startsWith('x-aisix-') || strip.includes(name) || listed?.has(name)) continue;
    out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** The upstream response headers relayed to the caller. */
export function relayedHeaders(
  upstream: Dispatcher.ResponseData['headers'],
  strip: readonly string[],
): OutgoingHttpHeaders {
  const listed = connectionTokens(upstream.connection);
  const out: OutgoingHttpHeaders = {};
  let length: string | undefined;
  for (const [name, v] of Object.entries(upstream)) {
    if (v === undefined || HOP_BY_HOP.has(name) || NOT_RELAYED.has(name)) continue;
    if (strip.includes(name) || listed?.has(name)) continue;
    if (name === 'content-length') length = Array.isArray(v) ? v[0] : v;
    else out[name] = v;
  }
  // Last: node:http re-encodes a Content-Disposition that follows Content-Length in a head and
  // then refuses any byte over 0x7f in it (ERR_INVALID_CHAR), although such bytes are legal
  // (obs-text: a UTF-8 filename). In this order the upstream's bytes are relayed as they came.
  if (length !== undefined) out['content-length'] = length;
  return out;
}
