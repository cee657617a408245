/**
 * AWS Signature Version 4 for one request (header form): canonical request, string to sign,
 * the derived signing key, and the `authorization` header. Used by the guardrail calls and the
 * S3 exporter: no query string beyond what the path carries, signed headers `host`, `x-amz-*`
 * and the extra ones given. S3 (`service: 's3'`) signs the path as sent (single encoding).
 */
import { createHash, createHmac } from 'node:crypto';

export interface SigV4Input {
  readonly method: string;
  readonly url: URL;
  readonly region: string;
  readonly service: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  /** Extra headers to sign (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
  readonly now: Date;
}

export const sha256Hex = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s, 'utf8').digest();

/** Each path segment URI-encoded twice (every service but S3), as SigV4 canonicalizes it. */
function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((seg) => rfc3986(rfc3986(decodeURIComponent(seg))))
    .join('/');
}

function canonicalQuery(u: URL): string {
  const pairs = [...u.searchParams.entries()].map(([k, v]) => [rfc3986(k), rfc3986(v)] as const);
  pairs.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The headers to send: the input's, plus `host`, `x-amz-date`, token and `authorization`. */
export function signV4(i: SigV4Input): Record<string, string> {
  const amzDate = i.now.toISOString().replace(/[:-]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const headers: Record<string, string> = { ...i.headers, host: i.url.host, 'x-amz-date': amzDate };
  if (i.sessionToken) headers['x-amz-security-token'] = i.sessionToken;
  const names = Object.keys(headers)
    .map((h) => h.toLowerCase())
    .sort();
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v.trim().replace(/\s+/g, ' ');
  const signed = names.join(';');
  const path = i.service === 's3' ? i.url.pathname || '/' : canonicalPath(i.url.pathname || '/');
  const canonical = [
    i.method,
    path,
    canonicalQuery(i.url),
    names.map((n) => `${n}:${lower[n]}\n`).join(''),
    signed,
    lower['x-amz-content-sha256'] ?? sha256Hex(i.body),
  ].join('\n');
  const scope = `${day}/${i.region}/${i.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n');
  const kDate = hmac(`AWS4${i.secretAccessKey}`, day);
  const kRegion = hmac(kDate, i.region);
  const kService = hmac(kRegion, i.service);
  const kSigning = hmac(kService, 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(toSign, 'utf8').digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${i.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
  return headers;
}
