/**
 * Outbound header pipeline (data-plane §5.5). Precedence: gateway-owned headers (credentials,
 * content type, request id, accept, user agent) > operator `default_headers` templates >
 * client headers selected by `forward_client_headers` globs.
 *
 * Reserved names (credentials, cookies, host) can never be set by templates or forwarded, and
 * transport/content headers are neither set by templates nor copied from the client, so neither
 * an operator nor a caller can override the upstream credential or smuggle framing headers.
 */
import type { ClientHeaders, TemplateVars } from '../contract.js';

/** The headers that carry an upstream credential on some wire (also what error text is scrubbed of). */
export const CREDENTIAL_HEADERS: readonly string[] = [
  'authorization',
  'x-api-key',
  'x-goog-api-key',
  'api-key',
  'proxy-authorization',
  // Bedrock's STS session token: signed over, but sent as it is.
  'x-amz-security-token',
];

const RESERVED = new Set([...CREDENTIAL_HEADERS, 'x-amz-date', 'x-amz-content-sha256', 'cookie', 'host']);

const NEVER_FORWARDED = new Set([
  'accept',
  'accept-encoding',
  'connection',
  'content-encoding',
  'content-length',
  'content-type',
  'expect',
  'keep-alive',
  'proxy-authenticate',
  'set-cookie',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const TEMPLATE_VAR = /\$\{([^}]*)\}/g;
const FORBIDDEN_VALUE = /[\r\n\0]/;
/** What an HTTP field value may carry (RFC 9110 §5.5: VCHAR, obs-text, SP, HTAB). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Renders a `${var}` template; undefined when a variable is unknown, absent or empty, or when the
 * result cannot be a header value (CR/LF/NUL, other control characters, characters beyond
 * Latin-1 such as an emoji in an api key's name): the header is dropped, never the request.
 */
export function renderTemplate(template: string, vars: TemplateVars): string | undefined {
  let missing = false;
  const out = template.replace(TEMPLATE_VAR, (_m, name: string) => {
    const v = Object.hasOwn(vars, name) ? vars[name as keyof TemplateVars] : undefined;
    if (v === undefined || v === '') missing = true;
    return v ?? '';
  });
  if (missing || !FIELD_VALUE.test(out)) return undefined;
  return out;
}

/** Case-insensitive single-`*` glob (other patterns compare exactly). */
function headerGlob(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const star = p.indexOf('*');
  if (star === -1 || p.indexOf('*', star + 1) !== -1) return p === name;
  const pre = p.slice(0, star);
  const suf = p.slice(star + 1);
  return name.length >= pre.length + suf.length && name.startsWith(pre) && name.endsWith(suf);
}

/** Adds operator default headers (step 2) to `headers` (gateway-owned, lower-case keys). */
export function applyDefaultHeaders(
  headers: Record<string, string>,
  defaults: Readonly<Record<string, string>> | null | undefined,
  vars: TemplateVars,
): void {
  if (!defaults) return;
  for (const [rawName, template] of Object.entries(defaults)) {
    const name = rawName.trim().toLowerCase();
    if (!HEADER_NAME.test(name) || RESERVED.has(name) || Object.hasOwn(headers, name)) continue;
    // Framing and hop-by-hop headers belong to the gateway's HTTP client, not to a template: a
    // `transfer-encoding` or `content-length` here made every call of the key fail.
    if (NEVER_FORWARDED.has(name)) continue;
    if (typeof template !== 'string') continue;
    const value = renderTemplate(template, vars);
    if (value !== undefined) headers[name] = value;
  }
}

/**
 * The names the caller's `Connection` header lists: hop-by-hop for that one connection
 * (RFC 9110 §7.6.1), so never forwarded, like the fixed hop-by-hop set.
 */
function connectionListed(connection: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (connection === undefined) return undefined;
  const joined = Array.isArray(connection) ? connection.join(',') : connection;
  return new Set(joined.split(',').map((t) => t.trim().toLowerCase()));
}

/** Copies matching client headers (step 3); first value only. */
export function forwardClientHeaders(
  headers: Record<string, string>,
  patterns: readonly string[] | null | undefined,
  client: ClientHeaders,
): void {
  if (!patterns || patterns.length === 0) return;
  const inbound = client.inboundHeaders;
  const firstOf = client.inboundFirst;
  const hopByHop = connectionListed(inbound.connection);
  for (const name of Object.keys(inbound)) {
    if (Object.hasOwn(headers, name) || RESERVED.has(name) || NEVER_FORWARDED.has(name)) continue;
    if (hopByHop?.has(name)) continue;
    if (name.startsWith('x-aisix-') || name.startsWith('x-stainless-')) continue;
    if (!patterns.some((p) => headerGlob(p, name))) continue;
    const v = inbound[name];
    // Only the first value of a repeated header (data-plane §5.5).
    const first = firstOf !== undefined ? firstOf(name) : Array.isArray(v) ? v[0] : v;
    if (first !== undefined && !FORBIDDEN_VALUE.test(first)) headers[name] = first;
  }
}
