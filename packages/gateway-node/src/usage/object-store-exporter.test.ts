/**
 * The `object_store` exporter (provider `s3`), live from the config store, against a local HTTP
 * server that plays S3: it re-derives the AWS SigV4 signature of every PUT from the request it
 * received and the shared secret (its own implementation of the published algorithm, not the
 * gateway's signer), checks `x-amz-content-sha256` against the body, gunzips the body and parses
 * the JSON lines. Also: a 5xx is retried onto the same key, `compression: none`, missing
 * credentials deliver nothing, and a removed exporter stops writing.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
  standardDocs,
  startTestGateway,
} from '../test/fixtures.js';
import { chatJson, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import { objectKey, objectStoreCredentialEnv, s3ObjectUrl } from './object-store-sink.js';

const AK = 'AKIDTEST';
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

let up: MockUpstream;
let g: Started;
let s3: Server;
let port = 0;
let client: OpenAI;
let docs: Docs;
let revision = 1;
const puts: Put[] = [];
let script: number[] = [200];

const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const mac = (k: Buffer | string, s: string) => createHmac('sha256', k).update(s).digest();

/** Re-derives the SigV4 signature of `req` (S3 rules: path as sent, payload hash from the header). */
function verify(req: IncomingMessage, body: Buffer): string {
  const auth = String(req.headers.authorization ?? '');
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

function apply(exporters: Record<string, Record<string, unknown>>): void {
  revision += 1;
  const all: Docs & { observability_exporters: Record<string, Record<string, unknown>> } = {
    ...docs,
    observability_exporters: exporters,
  };
  g.source.set(buildSnapshot(all, revision));
}

before(async () => {
  process.env.OBJSTORE_CRED_LAKE_1_AWS_ACCESS_KEY_ID = AK;
  process.env.OBJSTORE_CRED_LAKE_1_AWS_SECRET_ACCESS_KEY = SECRET;
  delete process.env.OBJSTORE_CRED_NOBODY_AWS_ACCESS_KEY_ID;
  s3 = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
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
  up = await startMockUpstream(chatJson('hi'));
  docs = standardDocs(up.url);
  g = await startTestGateway(buildSnapshot(docs));
  client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
  await new Promise((r) => s3.close(r));
});

async function chat(): Promise<string> {
  const { response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'a secret prompt' }] })
    .withResponse();
  return response.headers.get('x-aisix-request-id') as string;
}

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
  assert.equal(
    s3ObjectUrl({ bucket: 'logs', endpoint: 'http://127.0.0.1:9000' }, 'p/k').toString(),
    'http://127.0.0.1:9000/logs/p/k',
  );
});

test('usage events land as a signed, gzip JSON-lines object; a 5xx is retried onto the same key', async () => {
  script = [503, 200];
  puts.length = 0;
  apply({
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
  const id = await chat();
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
  apply({ s3: { name: 'lake2', ...base } });
  await chat();
  await until(
    () => puts.length > 0,
    () => 'no put',
  );
  assert.equal(puts[0]?.why, 'SignatureDoesNotMatch');
  process.env.OBJSTORE_CRED_LAKE_1_AWS_SECRET_ACCESS_KEY = SECRET;
  puts.length = 0;
  apply({ s3: { name: 'lake3', compression: 'none', ...base } });
  const id = await chat();
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
  apply({
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
  await chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(puts.length, 0);
  apply({});
  await chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(puts.length, 0);
});
