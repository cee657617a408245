/**
 * AWS Signature Version 4 (header form) with node:crypto, following the published algorithm:
 *
 *   CanonicalRequest = Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n
 *                      SignedHeaders \n HexSHA256(payload)
 *   StringToSign     = "AWS4-HMAC-SHA256" \n AmzDate \n <date>/<region>/<service>/aws4_request \n
 *                      HexSHA256(CanonicalRequest)
 *   SigningKey       = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
 *
 * Canonical URI: every path segment URI-encoded once more on top of the wire form (all services
 * except S3 do this double encoding). It matters for Bedrock: a model id `…-v1:0` travels as
 * `…-v1%3A0` and is signed as `…-v1%253A0`; getting this wrong is the classic
 * SignatureDoesNotMatch, which is why the mock Bedrock in the tests re-derives it independently.
 *
 * Only the headers named in `signedHeaders` (plus host and the x-amz-* ones this signer adds) are
 * signed; other headers may be added or changed later without breaking the signature.
 * Not covered: query-string (presigned) signing, chunked payload signing, SigV4a.
 */
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

export interface SignInput {
  readonly method: string;
  readonly url: URL;
  /** Request headers; names are matched case-insensitively. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
  readonly credentials: AwsCredentials;
  readonly region: string;
  readonly service: string;
  /** Signing time, epoch ms. */
  readonly now: number;
  /** Extra header names to sign besides host and x-amz-* (lower case). */
  readonly signedHeaders?: readonly string[];
  /** Add `x-amz-content-sha256` (default true; the vanilla test suite signs without it). */
  readonly contentSha256Header?: boolean;
}

export interface Signature {
  /** Headers to add to the request: authorization, x-amz-date, and the optional x-amz-* ones. */
  readonly headers: Record<string, string>;
  /** Exposed for tests and debugging (contains no secret). */
  readonly canonicalRequest: string;
  readonly stringToSign: string;
}

const sha256Hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it: unreserved characters kept, everything else %XX. */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `20150830T123600Z` */
export function amzDate(now: number): string {
  return new Date(now)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function canonicalUri(pathname: string): string {
  if (pathname === '' || pathname === '/') return '/';
  return pathname
    .split('/')
    .map((seg) => uriEncode(seg))
    .join('/');
}

function canonicalQuery(search: URLSearchParams): string {
  const pairs: [string, string][] = [];
  for (const [k, v] of search) pairs.push([uriEncode(k), uriEncode(v)]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** Header value as SigV4 canonicalises it: trimmed, inner whitespace runs collapsed. */
function canonicalValue(v: string): string {
  return v.trim().replace(/\s+/g, ' ');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

export function signRequest(input: SignInput): Signature {
  const stamp = amzDate(input.now);
  const date = stamp.slice(0, 8);
  const payloadHash = sha256Hex(input.body);
  const added: Record<string, string> = { 'x-amz-date': stamp };
  if (input.contentSha256Header !== false) added['x-amz-content-sha256'] = payloadHash;
  if (input.credentials.sessionToken) added['x-amz-security-token'] = input.credentials.sessionToken;

  const lower = new Map<string, string>();
  for (const [k, v] of Object.entries(input.headers)) lower.set(k.toLowerCase(), v);
  for (const [k, v] of Object.entries(added)) lower.set(k, v);
  lower.set('host', input.url.host);
  const wanted = new Set(['host', ...(input.signedHeaders ?? [])]);
  for (const k of lower.keys()) if (k.startsWith('x-amz-')) wanted.add(k);
  const names = [...wanted].filter((k) => lower.has(k)).sort();

  const canonicalHeaders = names.map((k) => `${k}:${canonicalValue(lower.get(k) ?? '')}\n`).join('');
  const signed = names.join(';');
  const canonicalRequest = [
    input.method.toUpperCase(),
    canonicalUri(input.url.pathname),
    canonicalQuery(input.url.searchParams),
    canonicalHeaders,
    signed,
    payloadHash,
  ].join('\n');
  const scope = `${date}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = signingKey(input.credentials.secretAccessKey, date, input.region, input.service);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  added.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
  return { headers: added, canonicalRequest, stringToSign };
}
