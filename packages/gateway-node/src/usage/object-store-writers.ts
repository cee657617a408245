/**
 * How one object is written to each `object_store` provider: the URL and the signed headers of
 * a `PUT` carrying the body (see docs/observability.md for the layout and credentials).
 *
 * - `s3`: AWS SigV4 (`service s3`, payload hash in `x-amz-content-sha256`); virtual-hosted
 *   `https://<bucket>.s3.<region>.amazonaws.com/<key>`, or path-style `<endpoint>/<bucket>/<key>`,
 *   and path-style `https://s3.<region>.amazonaws.com/<bucket>/<key>` for a bucket name with a dot
 *   (`*.s3.<region>.amazonaws.com` cannot match `a.b.s3...` in TLS; AWS SDKs do the same).
 * - `azure_blob`: Put Blob (`x-ms-blob-type: BlockBlob`) with a SharedKey signature; `bucket` is
 *   the container; `https://<account>.blob.core.windows.net/<container>/<blob>`, or with an
 *   `endpoint` whose host does not start with `<account>.` (Azurite), path-style
 *   `<endpoint>/<account>/<container>/<blob>`.
 * - `gcs`: XML API `PUT https://storage.googleapis.com/<bucket>/<key>` (or `<endpoint>/<bucket>/<key>`)
 *   with an OAuth2 bearer token, obtained from the service-account key (a signed RS256 JWT
 *   exchanged at its `token_uri`) or, for `cloud_identity`, from the metadata server; cached
 *   until a minute before it expires.
 *
 * Leaves out: batching and retries (`object-store-sink.ts`).
 */
import { createHmac, createSign } from 'node:crypto';
import { type Agent, request } from 'undici';
import { sha256Hex, signV4 } from '../guardrails/remote/sigv4.js';

export interface ObjectStoreConfig {
  readonly name: string;
  readonly provider: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly region?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly auth_mode?: string | undefined;
  readonly credential_ref?: string | undefined;
  readonly compression?: string | undefined;
}

/** A ready `PUT`, or the name of the environment variable that is missing. */
export type PutRequest =
  | { readonly url: URL; readonly headers: Record<string, string> }
  | { readonly missing: string };

export interface ObjectWriter {
  put(key: string, body: Buffer, gzipped: boolean): Promise<PutRequest>;
}

/** `OBJSTORE_CRED_<SLUG>_<FIELD>`; slug = ref upper-cased, every non-alphanumeric as `_`. */
export function objectStoreCredentialEnv(ref: string, field: string): string {
  return `OBJSTORE_CRED_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${field}`;
}

const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const encodePath = (key: string) => key.split('/').map(rfc3986).join('/');
const withSlash = (base: string) => (base.endsWith('/') ? base : `${base}/`);

function baseHeaders(body: Buffer, gzipped: boolean): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/x-ndjson',
    'content-length': String(body.length),
  };
  if (gzipped) h['content-encoding'] = 'gzip';
  return h;
}

/**
 * The URL an S3 object is written to: virtual-hosted, or path-style with an `endpoint` or a bucket
 * name with a dot (the `*.s3.<region>.amazonaws.com` certificate does not cover `a.b.s3.…`).
 */
export function s3ObjectUrl(c: Pick<ObjectStoreConfig, 'bucket' | 'region' | 'endpoint'>, key: string): URL {
  if (c.endpoint) return new URL(`${encodePath(c.bucket)}/${encodePath(key)}`, withSlash(c.endpoint));
  const host = `s3.${c.region || 'us-east-1'}.amazonaws.com`;
  if (c.bucket.includes('.')) return new URL(`https://${host}/${encodePath(c.bucket)}/${encodePath(key)}`);
  return new URL(`https://${c.bucket}.${host}/${encodePath(key)}`);
}

class S3Writer implements ObjectWriter {
  constructor(private readonly c: ObjectStoreConfig) {}

  async put(key: string, body: Buffer, gzipped: boolean): Promise<PutRequest> {
    let id: string | undefined;
    let secret: string | undefined;
    let token: string | undefined;
    let idEnv = 'AWS_ACCESS_KEY_ID';
    let secretEnv = 'AWS_SECRET_ACCESS_KEY';
    if (this.c.auth_mode === 'cloud_identity') {
      ({ AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token } = process.env);
    } else {
      const ref = this.c.credential_ref ?? '';
      idEnv = objectStoreCredentialEnv(ref, 'AWS_ACCESS_KEY_ID');
      secretEnv = objectStoreCredentialEnv(ref, 'AWS_SECRET_ACCESS_KEY');
      id = process.env[idEnv];
      secret = process.env[secretEnv];
      token = process.env[objectStoreCredentialEnv(ref, 'AWS_SESSION_TOKEN')];
    }
    if (!id) return { missing: idEnv };
    if (!secret) return { missing: secretEnv };
    const url = s3ObjectUrl(this.c, key);
    const headers = signV4({
      method: 'PUT',
      url,
      region: this.c.region || 'us-east-1',
      service: 's3',
      accessKeyId: id,
      secretAccessKey: secret,
      sessionToken: token,
      headers: { ...baseHeaders(body, gzipped), 'x-amz-content-sha256': sha256Hex(body) },
      body,
      now: new Date(),
    });
    return { url, headers };
  }
}

const AZURE_VERSION = '2021-08-06';

/** The URL of an Azure blob (see the header for the Azurite path-style rule). */
export function azureBlobUrl(
  account: string,
  c: Pick<ObjectStoreConfig, 'bucket' | 'endpoint'>,
  key: string,
): URL {
  const tail = `${encodePath(c.bucket)}/${encodePath(key)}`;
  if (!c.endpoint) return new URL(`https://${account}.blob.core.windows.net/${tail}`);
  const base = new URL(withSlash(c.endpoint));
  const pathStyle = !base.hostname.startsWith(`${account}.`);
  return new URL(pathStyle ? `${encodePath(account)}/${tail}` : tail, base);
}

/** SharedKey string-to-sign of a Put Blob (Blob service, version 2009-09-19 and later). */
export function azureStringToSign(
  method: string,
  url: URL,
  account: string,
  h: Record<string, string>,
): string {
  const std = [
    'content-encoding',
    'content-language',
    'content-length',
    'content-md5',
    'content-type',
    'date',
    'if-modified-since',
    'if-match',
    'if-none-match',
    'if-unmodified-since',
    'range',
  ].map((n) => (n === 'content-length' && h[n] === '0' ? '' : (h[n] ?? '')));
  const ms = Object.keys(h)
    .filter((n) => n.startsWith('x-ms-'))
    .sort()
    .map((n) => `${n}:${(h[n] ?? '').trim()}\n`)
    .join('');
  const q = [...url.searchParams.keys()]
    .sort()
    .map((k) => `\n${k.toLowerCase()}:${url.searchParams.getAll(k).sort().join(',')}`)
    .join('');
  return `${method}\n${std.join('\n')}\n${ms}/${account}${url.pathname}${q}`;
}

class AzureWriter implements ObjectWriter {
  constructor(private readonly c: ObjectStoreConfig) {}

  async put(key: string, body: Buffer, gzipped: boolean): Promise<PutRequest> {
    const ref = this.c.credential_ref ?? '';
    const accountEnv = objectStoreCredentialEnv(ref, 'AZURE_ACCOUNT');
    const keyEnv = objectStoreCredentialEnv(ref, 'AZURE_ACCESS_KEY');
    const account = process.env[accountEnv];
    const secret = process.env[keyEnv];
    if (!account) return { missing: accountEnv };
    if (!secret) return { missing: keyEnv };
    const url = azureBlobUrl(account, this.c, key);
    const headers: Record<string, string> = {
      ...baseHeaders(body, gzipped),
      'x-ms-blob-type': 'BlockBlob',
      'x-ms-date': new Date().toUTCString(),
      'x-ms-version': AZURE_VERSION,
    };
    const sig = createHmac('sha256', Buffer.from(secret, 'base64'))
      .update(azureStringToSign('PUT', url, account, headers), 'utf8')
      .digest('base64');
    headers.authorization = `SharedKey ${account}:${sig}`;
    return { url, headers };
  }
}

const GCS_SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';
const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** The RS256 JWT a service account exchanges for an access token (RFC 7523). */
export function serviceAccountAssertion(
  sa: { client_email: string; private_key: string; token_uri: string },
  nowS: number,
): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const claims = b64url(
    JSON.stringify({
      iss: sa.client_email,
      scope: GCS_SCOPE,
      aud: sa.token_uri,
      iat: nowS,
      exp: nowS + 3600,
    }),
  );
  const sig = createSign('RSA-SHA256').update(`${head}.${claims}`).sign(sa.private_key);
  return `${head}.${claims}.${b64url(sig)}`;
}

class GcsWriter implements ObjectWriter {
  private token: { value: string; until: number } | undefined;

  constructor(
    private readonly c: ObjectStoreConfig,
    private readonly agent: Agent,
  ) {}

  private async fetchToken(): Promise<string | { missing: string }> {
    if (this.token && Date.now() < this.token.until) return this.token.value;
    let res: Awaited<ReturnType<typeof request>>;
    if (this.c.auth_mode === 'cloud_identity') {
      const host = process.env.GCE_METADATA_HOST || 'metadata.google.internal';
      res = await request(`http://${host}/computeMetadata/v1/instance/service-accounts/default/token`, {
        dispatcher: this.agent,
        headers: { 'metadata-flavor': 'Google' },
      });
    } else {
      const env = objectStoreCredentialEnv(this.c.credential_ref ?? '', 'GCS_SERVICE_ACCOUNT_KEY');
      const raw = process.env[env];
      if (!raw) return { missing: env };
      let sa: { client_email: string; private_key: string; token_uri?: string };
      try {
        sa = JSON.parse(raw) as typeof sa;
      } catch {
        // Never the parser's message: V8 quotes a slice of the input, i.e. of the key file.
        throw new Error(`${env} is not a service-account key file (JSON)`);
      }
      const tokenUri = sa.token_uri || 'https://oauth2.googleapis.com/token';
      const assertion = serviceAccountAssertion(
        { ...sa, token_uri: tokenUri },
        Math.floor(Date.now() / 1000),
      );
      res = await request(tokenUri, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion,
        }).toString(),
      });
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`token endpoint answered ${res.statusCode}`);
    }
    const t = (await res.body.json()) as { access_token?: string; expires_in?: number };
    if (!t.access_token) throw new Error('token endpoint answered without access_token');
    this.token = { value: t.access_token, until: Date.now() + ((t.expires_in ?? 3600) - 60) * 1000 };
    return t.access_token;
  }

  async put(key: string, body: Buffer, gzipped: boolean): Promise<PutRequest> {
    const token = await this.fetchToken();
    if (typeof token !== 'string') return token;
    const base = withSlash(this.c.endpoint || 'https://storage.googleapis.com');
    const url = new URL(`${encodePath(this.c.bucket)}/${encodePath(key)}`, base);
    return { url, headers: { ...baseHeaders(body, gzipped), authorization: `Bearer ${token}` } };
  }

  /** A refused upload may be an expired or revoked token: fetch a new one next time. */
  forgetToken(): void {
    this.token = undefined;
  }
}

export function objectWriter(
  c: ObjectStoreConfig,
  agent: Agent,
): ObjectWriter & { forgetToken?: () => void } {
  if (c.provider === 's3') return new S3Writer(c);
  if (c.provider === 'azure_blob') return new AzureWriter(c);
  if (c.provider === 'gcs') return new GcsWriter(c, agent);
  throw new Error(`object_store provider ${c.provider} is not supported`);
}
