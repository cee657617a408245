/**
 * The `object_store` exporter (provider `s3`), live from the config store, against a local HTTP
 * server that plays S3: it re-derives the AWS SigV4 signature of every PUT from the request it
 * received and the shared secret (its own implementation of the published algorithm, not the
 * gateway's signer), checks `x-amz-content-sha256` against the body, gunzips the body and parses
 * the JSON lines. Also: a 5xx is retried onto the same key, `compression: none`, missing
 * credentials deliver nothing, a removed exporter stops writing, and a bucket name with a dot is
 * addressed path-style (its signature checked over `/<bucket>/<key>`).
 */
import assert from 'node:assert/strict';
import { createHash, createHmac, createVerify, generateKeyPairSync } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Agent } from 'undici';
import { type ExporterRig, startExporterRig } from '../test/exporter-rig.js';
import { CALLER_KEY } from '../test/fixtures.js';
import { objectKey } from './object-store-sink.js';
import { objectStoreCredentialEnv, objectWriter, s3ObjectUrl } from './object-store-writers.js';

const AK = 'AKIDTEST';
const AZ_ACCOUNT = 'devacct';
const AZ_KEY = Buffer.from('azure-shared-key-for-tests-0123456789').toString('base64');
const SA_EMAIL = 'exporter@proj.iam.gserviceaccount.com';
const { privateKey: SA_PRIVATE, publicKey: SA_PUBLIC } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const GCS_TOKEN = 'ya29.test-access-token';
/** What the GCE metadata server hands the instance's service account. */
const IDENTITY_TOKEN = 'ya29.instance-identity-token';
let tokenGrants = 0;
let metadataGrants = 0;
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';

interface Put {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  readonly status: number;
  readonly sigOk: boolean;
  readonly why: string;
}

let rig: ExporterRig;
let s3: Server;
let port = 0;
const puts: Put[] = [];
let script: number[] = [200];

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const mac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s).digest();

/** Checks the request as the store would; '' when it is authentic. */
function verify(req: IncomingMessage, body: Buffer): string {
  const auth = String(req.headers.authorization ?? '');
  if (auth.startsWith('SharedKey ')) return verifyAzure(req, auth);
  if (auth.startsWith('Bearer '))
    return auth === `Bearer ${GCS_TOKEN}` || auth === `Bearer ${IDENTITY_TOKEN}` ? '' : 'bad bearer token';
  return verifyS3(req, body, auth);
}

/** Azure SharedKey (Blob service): the documented string-to-sign, HMAC-SHA256 with the decoded key. */
function verifyAzure(req: IncomingMessage, auth: string): string {
  if (auth.slice('SharedKey '.length).split(':')[0] !== AZ_ACCOUNT) return 'wrong account';
  const h = req.headers;
  const v = (n: string) => (h[n] === undefined ? '' : String(h[n]));
  const len = v('content-length') === '0' ? '' : v('content-length');
  const ms = Object.keys(h)
    .filter((n) => n.startsWith('x-ms-'))
    .sort()
    .map((n) => `${n}:${v(n)}\n`)
    .join('');
  const toSign = [
    req.method,
    v('content-encoding'),
    v('content-language'),
    len,
    v('content-md5'),
    v('content-type'),
    v('date'),
    v('if-modified-since'),
    v('if-match'),
    v('if-none-match'),
    v('if-unmodified-since'),
    v('range'),
    `${ms}/${AZ_ACCOUNT}${String(req.url).split('?')[0]}`,
  ].join('\n');
  const want = createHmac('sha256', Buffer.from(AZ_KEY, 'base64')).update(toSign).digest('base64');
  if (auth !== `SharedKey ${AZ_ACCOUNT}:${want}`) return 'AuthenticationFailed';
  if (h['x-ms-blob-type'] !== 'BlockBlob') return 'x-ms-blob-type missing';
  return '';
}

/** Google's token endpoint: verifies the service account's RS256 JWT with its public key. */
function grant(body: string): { status: number; json: object } {
  const form = new URLSearchParams(body);
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
    return { status: 400, json: {} };
  const [head = '', claims = '', sig = ''] = String(form.get('assertion')).split('.');
  const ok = createVerify('RSA-SHA256')
    .update(`${head}.${claims}`)
    .verify(SA_PUBLIC, Buffer.from(sig, 'base64url'));
  const c = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as Record<string, unknown>;
  const now = Date.now() / 1000;
  if (!ok || c.iss !== SA_EMAIL || !String(c.scope).includes('devstorage') || !(Number(c.exp) > now))
    return { status: 401, json: { error: 'invalid_grant' } };
  if (c.aud !== `http://127.0.0.1:${port}/token`) return { status: 401, json: { error: 'bad aud' } };
  tokenGrants++;
  return { status: 200, json: { access_token: GCS_TOKEN, expires_in: 3600, token_type: 'Bearer' } };
}

/** Re-derives the SigV4 signature of `req` (S3 rules: path as sent, payload hash from the header). */
function verifyS3(req: IncomingMessage, body: Buffer, auth: string): string {
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return `bad authorization header: ${auth}`;
  const [ak = '', day = '', region = '', signedHeaders = '', sig = ''] = m.slice(1);
  if (ak !== AK) return 'wrong access key id';
  const names = signedHeaders.split(';');
  for (const must of ['host', 'x-amz-date', 'x-amz-content-sha256'])
    if (!names.includes(must)) return `${must} unsigned`;
  const payload = String(req.headers['x-amz-content-sha256']);
  if (payload !== hex(body)) return 'x-amz-content-sha256 does not match the body';
  const amzDate = String(req.headers['x-amz-date']);
  if (!amzDate.startsWith(day)) return 'date scope mismatch';
  if (
    Math.abs(
      Date.parse(
        `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
      ) - Date.now(),
    ) > 900_000
  )
    return 'x-amz-date skewed';
  const [path, query = ''] = String(req.url).split('?');
  const canonical = [
    req.method,
    path,
    query,
    names.map((n) => `${n}:${String(req.headers[n]).trim()}\n`).join(''),
    signedHeaders,
    payload,
  ].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hex(canonical)}`;
  const key = mac(mac(mac(mac(`AWS4${SECRET}`, day), region), 's3'), 'aws4_request');
  const want = createHmac('sha256', key).update(toSign).digest('hex');
  return want === sig ? '' : 'SignatureDoesNotMatch';
}

before(async () => {
  process.env.OBJSTORE_CRED_AZ_AZURE_ACCOUNT = AZ_ACCOUNT;
  process.env.OBJSTORE_CRED_AZ_AZURE_ACCESS_KEY = AZ_KEY;
  process.env.OBJSTORE_CRED_LAKE_1_AWS_ACCESS_KEY_ID = AK;
  process.env.OBJSTORE_CRED_LAKE_1_AWS_SECRET_ACCESS_KEY = SECRET;
  delete process.env.OBJSTORE_CRED_NOBODY_AWS_ACCESS_KEY_ID;
  s3 = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/computeMetadata/v1/instance/service-accounts/default/token') {
        // The metadata server answers only requests that carry Metadata-Flavor: Google.
        const ok = req.method === 'GET' && req.headers['metadata-flavor'] === 'Google';
        if (ok) metadataGrants++;
        res.writeHead(ok ? 200 : 403, { 'content-type': 'application/json' });
        res.end(
          ok
            ? JSON.stringify({ access_token: IDENTITY_TOKEN, expires_in: 3599, token_type: 'Bearer' })
            : '{}',
        );
        return;
      }
      if (req.url === '/token') {
        const g = grant(body.toString('utf8'));
        res.writeHead(g.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(g.json));
        return;
      }
      const why = verify(req, body);
      const status = why !== '' ? 403 : script.length > 1 ? (script.shift() as number) : (script[0] ?? 200);
      puts.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        status,
        sigOk: why === '',
        why,
      });
      res.writeHead(status);
      res.end();
    });
  });
  await new Promise<void>((r) => s3.listen(0, '127.0.0.1', r));
  port = (s3.address() as AddressInfo).port;
  process.env.OBJSTORE_CRED_GCP_GCS_SERVICE_ACCOUNT_KEY = JSON.stringify({
    type: 'service_account',
    client_email: SA_EMAIL,
    private_key: SA_PRIVATE.export({ type: 'pkcs8', format: 'pem' }),
    token_uri: `http://127.0.0.1:${port}/token`,
  });
  rig = await startExporterRig();
});

after(async () => {
  await rig.close();
  await new Promise((r) => s3.close(r));
});

async function until(ok: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!ok()) {
    assert.ok(Date.now() < deadline, what());
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('credential env names, object keys and URLs', () => {
  assert.equal(
    objectStoreCredentialEnv('lake-1', 'AWS_ACCESS_KEY_ID'),
    'OBJSTORE_CRED_LAKE_1_AWS_ACCESS_KEY_ID',
  );
  const t = new Date('2026-03-04T05:06:07.890Z');
  assert.equal(
    objectKey('usage', t, 'h-1-0', true),
    `usage/dt=2026-03-04/hour=05/${t.getTime()}-h-1-0.jsonl.gz`,
  );
  assert.equal(objectKey('', t, 'h-1-0', false), `dt=2026-03-04/hour=05/${t.getTime()}-h-1-0.jsonl`);
  assert.equal(
    s3ObjectUrl({ bucket: 'logs', region: 'eu-west-1' }, 'a b/x.gz').toString(),
    'https://logs.s3.eu-west-1.amazonaws.com/a%20b/x.gz',
  );
  assert.equal(s3ObjectUrl({ bucket: 'logs' }, 'k').host, 'logs.s3.us-east-1.amazonaws.com');
  // A dot in the name: `ai.usage.s3.<region>.amazonaws.com` would not match the `*.s3...`
  // certificate, so path-style at the regional endpoint.
  assert.equal(
    s3ObjectUrl({ bucket: 'ai.usage', region: 'eu-west-1' }, 'a b/x.gz').toString(),
    'https://s3.eu-west-1.amazonaws.com/ai.usage/a%20b/x.gz',
  );
  assert.equal(
    s3ObjectUrl({ bucket: 'ai.usage' }, 'k').toString(),
    'https://s3.us-east-1.amazonaws.com/ai.usage/k',
  );
  assert.equal(
    s3ObjectUrl({ bucket: 'logs', endpoint: 'http://127.0.0.1:9000' }, 'p/k').toString(),
    'http://127.0.0.1:9000/logs/p/k',
  );
});

test('usage events land as a signed, gzip JSON-lines object; a 5xx is retried onto the same key', async () => {
  script = [503, 200];
  puts.length = 0;
  rig.apply({
    s3: {
      name: 'lake',
      kind: 'object_store',
      provider: 's3',
      bucket: 'usage-bucket',
      prefix: 'aisix/usage',
      region: 'eu-central-1',
      endpoint: `http://127.0.0.1:${port}`,
      credential_ref: 'lake-1',
    },
  });
  const id = await rig.chat();
  await until(
    () => puts.some((p) => p.status === 200),
    () => `puts: ${puts.map((p) => `${p.status} ${p.why}`).join(',')}`,
  );
  const [failed, ok] = puts as [Put, Put];
  assert.equal(failed.status, 503);
  assert.ok(ok.sigOk, ok.why);
  assert.equal(ok.method, 'PUT');
  assert.equal(ok.url, failed.url, 'the retry rewrites the same object');
  assert.ok(ok.body.equals(failed.body));
  assert.match(
    decodeURIComponent(ok.url),
    /^\/usage-bucket\/aisix\/usage\/dt=\d{4}-\d\d-\d\d\/hour=\d\d\/\d+-[^/]+\.jsonl\.gz$/,
  );
  assert.match(String(ok.headers.authorization), /\/eu-central-1\/s3\/aws4_request/);
  assert.equal(ok.headers['content-encoding'], 'gzip');
  const lines = gunzipSync(ok.body).toString('utf8').trimEnd().split('\n');
  const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const e = events.find((x) => x.request_id === id);
  assert.ok(e, 'the request has an event line');
  assert.equal(e.status_code, 200);
  assert.equal(e.prompt_tokens, 9);
  assert.equal(e.completion_tokens, 3);
  assert.equal(e.api_key_id, 'k1');
  const text = gunzipSync(ok.body).toString('utf8');
  for (const secret of ['a secret prompt', CALLER_KEY, 'sk-upstream-secret', SECRET])
    assert.ok(!text.includes(secret));
  assert.ok(!JSON.stringify(ok.headers).includes(SECRET));
});

test('the wrong secret is refused by the store (the check can fail); compression none writes plain JSON lines', async () => {
  process.env.OBJSTORE_CRED_LAKE_1_AWS_SECRET_ACCESS_KEY = 'not-the-secret';
  puts.length = 0;
  script = [200];
  const base = {
    kind: 'object_store',
    provider: 's3',
    bucket: 'b2',
    prefix: '',
    endpoint: `http://127.0.0.1:${port}`,
    credential_ref: 'lake-1',
  };
  rig.apply({ s3: { name: 'lake2', ...base } });
  await rig.chat();
  await until(
    () => puts.length > 0,
    () => 'no put',
  );
  assert.equal(puts[0]?.why, 'SignatureDoesNotMatch');
  process.env.OBJSTORE_CRED_LAKE_1_AWS_SECRET_ACCESS_KEY = SECRET;
  puts.length = 0;
  rig.apply({ s3: { name: 'lake3', compression: 'none', ...base } });
  const id = await rig.chat();
  await until(
    () => puts.some((p) => p.status === 200),
    () => `puts: ${puts.map((p) => `${p.status} ${p.why}`).join(',')}`,
  );
  const ok = puts.find((p) => p.status === 200) as Put;
  assert.match(decodeURIComponent(ok.url), /^\/b2\/dt=[^/]+\/hour=\d\d\/[^/]+\.jsonl$/);
  assert.equal(ok.headers['content-encoding'], undefined);
  assert.ok(
    ok.body
      .toString('utf8')
      .split('\n')
      .some((l) => l.includes(id)),
  );
});

test('missing credentials deliver nothing; removed, nothing more is written', async () => {
  rig.apply({
    s3: {
      name: 'lake4',
      kind: 'object_store',
      provider: 's3',
      bucket: 'b',
      prefix: 'x/',
      endpoint: `http://127.0.0.1:${port}`,
      credential_ref: 'nobody',
    },
  });
  await new Promise((r) => setTimeout(r, 300));
  puts.length = 0;
  await rig.chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(puts.length, 0);
  rig.apply({});
  await rig.chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(puts.length, 0);
});

/** The accepted PUT whose events include request `id` (a late flush of an earlier exporter is not it). */
async function landed(id: string): Promise<Put> {
  const has = (p: Put) => p.status === 200 && gunzipSync(p.body).toString('utf8').includes(id);
  await until(
    () => puts.some(has),
    () => `puts: ${puts.map((p) => `${p.status} ${p.why}`).join(',')}`,
  );
  return puts.find(has) as Put;
}

test('azure_blob: a SharedKey-signed Put Blob (BlockBlob, gzip) at <endpoint>/<account>/<container>/<key>', async () => {
  puts.length = 0;
  script = [200];
  rig.apply({
    az: {
      name: 'az',
      kind: 'object_store',
      provider: 'azure_blob',
      bucket: 'usage',
      prefix: 'gw',
      endpoint: `http://127.0.0.1:${port}`,
      credential_ref: 'az',
    },
  });
  const id = await rig.chat();
  const ok = await landed(id);
  assert.ok(ok.sigOk, ok.why);
  assert.match(decodeURIComponent(ok.url), /^\/devacct\/usage\/gw\/dt=[^/]+\/hour=\d\d\/[^/]+\.jsonl\.gz$/);
  assert.equal(ok.headers['x-ms-version'], '2021-08-06');
  const e = gunzipSync(ok.body)
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((x) => x.request_id === id);
  assert.equal(e?.status_code, 200);
  assert.ok(!JSON.stringify(ok.headers).includes(AZ_KEY));
  process.env.OBJSTORE_CRED_AZ_AZURE_ACCESS_KEY = Buffer.from('another key').toString('base64');
  puts.length = 0;
  rig.apply({
    az: {
      name: 'az2',
      kind: 'object_store',
      provider: 'azure_blob',
      bucket: 'usage',
      prefix: '',
      endpoint: `http://127.0.0.1:${port}`,
      credential_ref: 'az',
    },
  });
  await rig.chat();
  await until(
    () => puts.length > 0,
    () => 'no put',
  );
  assert.equal(puts[0]?.why, 'AuthenticationFailed', 'the check can fail');
  process.env.OBJSTORE_CRED_AZ_AZURE_ACCESS_KEY = AZ_KEY;
});

test('gcs: the service-account JWT is exchanged for a token (once), objects are PUT with it', async () => {
  puts.length = 0;
  script = [200];
  tokenGrants = 0;
  const gcs = {
    kind: 'object_store',
    provider: 'gcs',
    bucket: 'lake',
    prefix: 'u/',
    endpoint: `http://127.0.0.1:${port}`,
    credential_ref: 'gcp',
  };
  rig.apply({ gcs: { name: 'gcs', ...gcs } });
  const id1 = await rig.chat();
  await landed(id1);
  const id2 = await rig.chat();
  const ok = await landed(id2);
  assert.ok(ok.sigOk, ok.why);
  assert.equal(tokenGrants, 1, 'the token is cached');
  assert.match(decodeURIComponent(ok.url), /^\/lake\/u\/dt=[^/]+\/hour=\d\d\/[^/]+\.jsonl\.gz$/);
  assert.equal(ok.headers.authorization, `Bearer ${GCS_TOKEN}`);
  const wrong = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  });
  const saved = process.env.OBJSTORE_CRED_GCP_GCS_SERVICE_ACCOUNT_KEY as string;
  process.env.OBJSTORE_CRED_GCP_GCS_SERVICE_ACCOUNT_KEY = JSON.stringify({
    ...JSON.parse(saved),
    private_key: wrong,
  });
  puts.length = 0;
  rig.apply({ gcs: { name: 'gcs2', ...gcs } });
  await rig.chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(puts.length, 0, 'a key the token endpoint refuses writes nothing');
  process.env.OBJSTORE_CRED_GCP_GCS_SERVICE_ACCOUNT_KEY = saved;
  rig.apply({});
});

test('cloud_identity: gcs takes its token from the metadata server (GCE_METADATA_HOST), s3 signs with the AWS_* environment', async () => {
  const saved = {
    host: process.env.GCE_METADATA_HOST,
    id: process.env.AWS_ACCESS_KEY_ID,
    secret: process.env.AWS_SECRET_ACCESS_KEY,
    token: process.env.AWS_SESSION_TOKEN,
  };
  const restore = (k: string, v: string | undefined) => {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };
  try {
    process.env.GCE_METADATA_HOST = `127.0.0.1:${port}`;
    puts.length = 0;
    script = [200];
    metadataGrants = 0;
    const gcs = {
      kind: 'object_store',
      provider: 'gcs',
      bucket: 'lake',
      prefix: 'id/',
      auth_mode: 'cloud_identity',
    };
    rig.apply({ gcs: { name: 'gcs-identity', ...gcs, endpoint: `http://127.0.0.1:${port}` } });
    await landed(await rig.chat());
    const ok = await landed(await rig.chat());
    assert.ok(ok.sigOk, ok.why);
    assert.equal(ok.headers.authorization, `Bearer ${IDENTITY_TOKEN}`);
    assert.equal(metadataGrants, 1, 'the metadata token is cached');

    // S3: the instance's credentials are the standard AWS_* variables (no credential_ref).
    const s3 = (name: string) => ({
      s3: {
        name,
        kind: 'object_store',
        provider: 's3',
        bucket: 'usage-bucket',
        prefix: 'id',
        region: 'us-west-2',
        endpoint: `http://127.0.0.1:${port}`,
        auth_mode: 'cloud_identity',
      },
    });
    process.env.AWS_ACCESS_KEY_ID = AK;
    process.env.AWS_SECRET_ACCESS_KEY = SECRET;
    process.env.AWS_SESSION_TOKEN = 'session-token-from-the-role';
    puts.length = 0;
    rig.apply(s3('s3-identity'));
    const put = await landed(await rig.chat());
    assert.ok(put.sigOk, put.why);
    assert.match(String(put.headers.authorization), new RegExp(`Credential=${AK}/\\d{8}/us-west-2/s3/`));
    assert.equal(put.headers['x-amz-security-token'], 'session-token-from-the-role');

    // Without them nothing is written (and nothing is guessed).
    delete process.env.AWS_ACCESS_KEY_ID;
    puts.length = 0;
    rig.apply(s3('s3-identity-2'));
    await rig.chat();
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(puts.length, 0);
  } finally {
    restore('GCE_METADATA_HOST', saved.host);
    restore('AWS_ACCESS_KEY_ID', saved.id);
    restore('AWS_SECRET_ACCESS_KEY', saved.secret);
    restore('AWS_SESSION_TOKEN', saved.token);
    rig.apply({});
  }
});

test('s3: a dotted bucket is PUT path-style to s3.<region>.amazonaws.com, signed over /<bucket>/<key>', async () => {
  process.env.OBJSTORE_CRED_LAKE_1_AWS_SECRET_ACCESS_KEY = SECRET;
  const agent = new Agent();
  const w = objectWriter(
    {
      name: 'dotted',
      provider: 's3',
      bucket: 'ai.usage',
      prefix: '',
      region: 'eu-west-1',
      credential_ref: 'lake-1',
    },
    agent,
  );
  const body = Buffer.from('{"request_id":"r1"}\n');
  const put = await w.put('aisix/usage/k.jsonl', body, false);
  assert.ok('url' in put, 'credentials found');
  assert.equal(put.url.toString(), 'https://s3.eu-west-1.amazonaws.com/ai.usage/aisix/usage/k.jsonl');
  assert.equal(put.headers.host, 's3.eu-west-1.amazonaws.com');
  // Played against the local store exactly as the regional endpoint would receive it (same Host,
  // same path): the store recomputes the SigV4 signature with its own code.
  puts.length = 0;
  script = [200];
  await new Promise<void>((resolve, reject) => {
    const r = httpRequest(
      { host: '127.0.0.1', port, method: 'PUT', path: put.url.pathname, headers: put.headers },
      (res) => {
        res.resume();
        res.on('end', () => resolve());
      },
    );
    r.on('error', reject);
    r.end(body);
  });
  const got = puts[0] as Put;
  assert.equal(got.why, '');
  assert.equal(got.status, 200);
  assert.equal(got.url, '/ai.usage/aisix/usage/k.jsonl');
  assert.equal(got.headers.host, 's3.eu-west-1.amazonaws.com');
  assert.match(String(got.headers.authorization), /\/eu-west-1\/s3\/aws4_request/);
  await agent.close();
});

test('gcs: a key file that is not JSON fails the upload without quoting any of it', async () => {
  const saved = process.env.OBJSTORE_CRED_GCP_GCS_SERVICE_ACCOUNT_KEY;
  // Unquoted values make V8's JSON.parse message quote the text around the error.
  process.env.OBJSTORE_CRED_GCP_GCS_SERVICE_ACCOUNT_KEY =
    '{"client_email": "a@b", "private_key": CANARY-GCS-7f3a-private-key-material}';
  try {
    const w = objectWriter(
      { name: 'g', provider: 'gcs', bucket: 'b', prefix: '', credential_ref: 'gcp' },
      new Agent(),
    );
    await assert.rejects(w.put('k', Buffer.from('x'), false), (e: Error) => {
      assert.match(e.message, /OBJSTORE_CRED_GCP_GCS_SERVICE_ACCOUNT_KEY is not a service-account key file/);
      assert.ok(!e.message.includes('CANARY'), e.message);
      return true;
    });
  } finally {
    process.env.OBJSTORE_CRED_GCP_GCS_SERVICE_ACCOUNT_KEY = saved;
  }
});
