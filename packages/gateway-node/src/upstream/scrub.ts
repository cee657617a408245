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

function secretsOf(prepared: SentRequest): string[] {
  const out: string[] = [];
  const add = (v: string | undefined | null) => {
    if (v && v.length >= MIN_SECRET) out.push(v);
  };
  for (const name of CREDENTIAL_HEADERS) {
    const v = prepared.headers[name];
    if (v === undefined) continue;
    add(v);
    // `Bearer <token>`, `Basic <b64>`: the token alone is echoed too.
    const sp = v.indexOf(' ');
    if (sp > 0) add(v.slice(sp + 1).trim());
  }
  add(prepared.url.searchParams.get('key'));
  // Longest first, so a header value is replaced whole before the token inside it.
  return out.sort((a, b) => b.length - a.length);
}

export function scrubCredentials(text: string, prepared: SentRequest): string {
  if (text.length < MIN_SECRET) return text;
  let out = text;
  for (const s of secretsOf(prepared)) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}
