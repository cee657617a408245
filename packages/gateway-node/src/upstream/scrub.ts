/**
 * Upstream error text with the credentials this gateway sent removed. Some upstreams echo the
 * request's `Authorization` (or a key from the URL) in their error messages; those messages
 * reach the caller, the access log, usage events and exporters, and a provider key must never
 * appear in any of them. Runs on error paths only.
 */
import { CREDENTIAL_HEADERS, type PreparedRequest } from '@aisix/providers';

/** Shorter values are not secrets worth a search (and would mangle ordinary words). */
const MIN_SECRET = 8;
const MASK = '****';

/** What a request sent: its URL and headers. */
export type SentRequest = Pick<PreparedRequest, 'url' | 'headers'>;

/** A credential value, and the token of `Bearer <token>` / `Basic <b64>` (echoed alone too). */
function addCredential(out: string[], v: string | undefined | null): void {
  if (!v || v.length < MIN_SECRET) return;
  out.push(v);
  const sp = v.indexOf(' ');
  if (sp > 0) {
    const token = v.slice(sp + 1).trim();
    if (token.length >= MIN_SECRET) out.push(token);
  }
}

function secretsOf(prepared: SentRequest): string[] {
  const out: string[] = [];
  for (const name of CREDENTIAL_HEADERS) addCredential(out, prepared.headers[name]);
  const key = prepared.url.searchParams.get('key');
  if (key && key.length >= MIN_SECRET) out.push(key);
  return out;
}

function scrubAll(text: string, secrets: string[]): string {
  if (text.length < MIN_SECRET) return text;
  let out = text;
  // Longest first, so a header value is replaced whole before the token inside it.
  for (const s of secrets.sort((a, b) => b.length - a.length))
    if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

export function scrubCredentials(text: string, prepared: SentRequest): string {
  return scrubAll(text, secretsOf(prepared));
}

/**
 * `text` without the credential values a non-model upstream call sent (MCP servers, OpenAPI
 * tools: any header name, `Bearer <token>` and the token alone), for the same reason.
 */
export function scrubSentCredentials(text: string, credentials: Iterable<string | undefined>): string {
  const out: string[] = [];
  for (const v of credentials) addCredential(out, v);
  return scrubAll(text, out);
}
