/**
 * The `aliyun_sls` exporter, live from the config store, against a local HTTP server playing the
 * SLS PutLogs API: it recomputes the `LOG <AccessKeyId>:<signature>` HMAC-SHA1 over the
 * documented string-to-sign with the shared secret (its own code), checks Content-MD5 and
 * x-log-bodyrawsize, inflates the body and decodes the protobuf LogGroup with its own decoder. A
 * LogGroup over 5 MB raw or 4,096 logs is refused (413 PostBodyTooLarge), as SLS does.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { type ExporterRig, startExporterRig } from '../test/exporter-rig.js';
import { CALLER_KEY } from '../test/fixtures.js';
import { putLogsUrl, slsCredentialEnv } from './sls-sink.js';

const AK_ID = 'LTAI-test-id';
const AK_SECRET = 'sls-secret-value';
/** PutLogs limits: raw (uncompressed) LogGroup bytes, logs per group. */
const MAX_GROUP_BYTES = 5_000_000;
const MAX_GROUP_LOGS = 4096;

interface Post {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly raw: Buffer;
  readonly status: number;
  readonly why: string;
}

let rig: ExporterRig;
let sls: Server;
let port = 0;
const posts: Post[] = [];
let script: number[] = [200];

function verify(req: IncomingMessage, body: Buffer): string {
  const h = req.headers;
  const v = (n: string) => (h[n] === undefined ? '' : String(h[n]));
  if (v('content-md5') !== createHash('md5').update(body).digest('hex').toUpperCase())
    return 'bad Content-MD5';
  const log = Object.keys(h)
    .filter((n) => n.startsWith('x-log-') || n.startsWith('x-acs-'))
    .sort()
    .map((n) => `${n}:${v(n)}`)
    .join('\n');
  const toSign = `${req.method}\n${v('content-md5')}\n${v('content-type')}\n${v('date')}\n${log}\n${req.url}`;
  const want = createHmac('sha1', AK_SECRET).update(toSign).digest('base64');
  if (v('authorization') !== `LOG ${AK_ID}:${want}`) return 'SignatureNotMatch';
  if (v('x-log-apiversion') !== '0.6.0' || v('x-log-signaturemethod') !== 'hmac-sha1')
    return 'bad x-log headers';
  return '';
}

/** A minimal protobuf reader: field number -> list of values (varints as numbers, bytes as Buffers). */
function pb(buf: Buffer): Map<number, (number | Buffer)[]> {
  const out = new Map<number, (number | Buffer)[]>();
  let i = 0;
  const varint = () => {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++] as number;
      n += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) return n;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const field = tag >>> 3;
    let val: number | Buffer;
    if ((tag & 7) === 0) val = varint();
    else if ((tag & 7) === 2) {
      const len = varint();
      val = buf.subarray(i, i + len);
      i += len;
    } else throw new Error(`wire type ${tag & 7}`);
    out.set(field, [...(out.get(field) ?? []), val]);
  }
  return out;
}

interface DecodedLog {
  readonly time: number;
  readonly fields: Record<string, string>;
}

function decodeGroup(raw: Buffer): { logs: DecodedLog[]; topic: string; source: string } {
  const g = pb(raw);
  const logs = (g.get(1) ?? []).map((l) => {
    const m = pb(l as Buffer);
    const fields: Record<string, string> = {};
    for (const c of m.get(2) ?? []) {
      const kv = pb(c as Buffer);
      fields[String(kv.get(1)?.[0])] = String(kv.get(2)?.[0]);
    }
    return { time: m.get(1)?.[0] as number, fields };
  });
  return { logs, topic: String(g.get(3)?.[0]), source: String(g.get(4)?.[0]) };
}

before(async () => {
  process.env.SLS_CRED_ALI_PROD_AK_ID = AK_ID;
  process.env.SLS_CRED_ALI_PROD_AK_SECRET = AK_SECRET;
  delete process.env.SLS_CRED_NOBODY_AK_ID;
  sls = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const why = verify(req, body);
      let raw: Buffer = Buffer.alloc(0);
      if (req.headers['x-log-compresstype'] === 'deflate') raw = inflateSync(body);
      const tooLarge =
        why === '' && (raw.length > MAX_GROUP_BYTES || (pb(raw).get(1)?.length ?? 0) > MAX_GROUP_LOGS);
      const status =
        why !== ''
          ? 403
          : tooLarge
            ? 413
            : script.length > 1
              ? (script.shift() as number)
              : (script[0] ?? 200);
      posts.push({ url: req.url ?? '', headers: req.headers, raw, status, why });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 200 ? '' : '{"errorCode":"x","errorMessage":"y"}');
    });
  });
  await new Promise<void>((r) => sls.listen(0, '127.0.0.1', r));
  port = (sls.address() as AddressInfo).port;
  rig = await startExporterRig();
});

after(async () => {
  await rig.close();
  await new Promise((r) => sls.close(r));
});

async function until(ok: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!ok()) {
    assert.ok(Date.now() < deadline, what());
    await new Promise((r) => setTimeout(r, 50));
  }
}

const exporter = (over: Record<string, unknown> = {}) => ({
  name: 'sls',
  kind: 'aliyun_sls',
  endpoint: `http://127.0.0.1:${port}`,
  project: 'aisix-prod',
  logstore: 'usage',
  credential_ref: 'ali-prod',
  ...over,
});

test('credential env names and the PutLogs URL', () => {
  assert.equal(slsCredentialEnv('ali-prod', 'AK_ID'), 'SLS_CRED_ALI_PROD_AK_ID');
  assert.equal(
    putLogsUrl({
      endpoint: 'https://cn-hangzhou.log.aliyuncs.com',
      project: 'p1',
      logstore: 'ls',
    }).toString(),
    'https://p1.cn-hangzhou.log.aliyuncs.com/logstores/ls/shards/lb',
  );
  assert.equal(
    putLogsUrl({ endpoint: 'http://127.0.0.1:9', project: 'p1', logstore: 'ls' }).toString(),
    'http://127.0.0.1:9/logstores/ls/shards/lb',
  );
});

test('usage events arrive as a signed, deflated protobuf LogGroup; a 5xx is retried', async () => {
  script = [500, 200];
  posts.length = 0;
  rig.apply({ sls: exporter() });
  const id = await rig.chat();
  await until(
    () => posts.some((p) => p.status === 200),
    () => `posts: ${posts.map((p) => `${p.status} ${p.why}`).join(',')}`,
  );
  const [failed, ok] = posts as [Post, Post];
  assert.equal(failed.status, 500);
  assert.ok(ok.raw.equals(failed.raw), 'the same batch again');
  assert.equal(ok.why, '');
  assert.equal(ok.url, '/logstores/usage/shards/lb');
  assert.equal(ok.headers['content-type'], 'application/x-protobuf');
  assert.equal(Number(ok.headers['x-log-bodyrawsize']), ok.raw.length);
  const group = decodeGroup(ok.raw);
  assert.equal(group.topic, 'aisix-usage');
  assert.ok(group.source.length > 0);
  const log = group.logs.find((l) => l.fields.request_id === id);
  assert.ok(log, 'the request has a log');
  assert.equal(log.fields.status_code, '200');
  assert.equal(log.fields.prompt_tokens, '9');
  assert.equal(log.fields.completion_tokens, '3');
  assert.equal(log.fields.api_key_id, 'k1');
  assert.equal(log.time, Math.floor(Date.parse(String(log.fields.occurred_at)) / 1000));
  assert.ok(Math.abs(log.time - Date.now() / 1000) < 60);
  for (const p of posts) {
    const text = p.raw.toString('utf8');
    for (const s of ['a secret prompt', CALLER_KEY, 'sk-upstream-secret', AK_SECRET])
      assert.ok(!text.includes(s));
  }
});

test('a wrong secret is refused (the check can fail); missing credentials and removal send nothing', async () => {
  process.env.SLS_CRED_ALI_PROD_AK_SECRET = 'wrong';
  script = [200];
  posts.length = 0;
  rig.apply({ sls: exporter({ name: 'sls2' }) });
  await rig.chat();
  await until(
    () => posts.length > 0,
    () => 'no post',
  );
  assert.equal(posts[0]?.why, 'SignatureNotMatch');
  process.env.SLS_CRED_ALI_PROD_AK_SECRET = AK_SECRET;
  rig.apply({ sls: exporter({ name: 'sls3', credential_ref: 'nobody' }) });
  await new Promise((r) => setTimeout(r, 300));
  posts.length = 0;
  await rig.chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(posts.length, 0);
  rig.apply({});
  await rig.chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(posts.length, 0);
});

test('full content: a batch over 5 MB raw is split into LogGroups under the PutLogs limit, each log once', async () => {
  script = [200];
  posts.length = 0;
  rig.apply({ sls: exporter({ name: 'sls-big', content_mode: 'full', content_max_bytes: 1_048_576 }) });
  // Seven ~900 KB prompts and one small request, in one flush interval: 6.3 MB of logs.
  const big = Array.from({ length: 7 }, (_, i) => `${i}`.repeat(900_000));
  const chatWith = async (prompt: string) => {
    const { response } = await rig.client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] })
      .withResponse();
    return response.headers.get('x-aisix-request-id') as string;
  };
  const ids = await Promise.all([...big.map((p) => chatWith(p)), rig.chat()]);
  const logs = () =>
    posts.filter((p) => p.status === 200).flatMap((p) => decodeGroup(p.raw).logs.map((l) => l.fields));
  await until(
    () => ids.every((id) => logs().some((f) => f.request_id === id)),
    () => `posts: ${posts.map((p) => `${p.status}/${p.raw.length}`).join(',')}`,
  );
  assert.ok(posts.length >= 2, 'more than one PutLogs call');
  for (const p of posts) {
    assert.equal(p.status, 200);
    assert.ok(p.raw.length <= MAX_GROUP_BYTES, `a ${p.raw.length}-byte LogGroup`);
  }
  for (const id of ids) assert.equal(logs().filter((f) => f.request_id === id).length, 1);
  for (let i = 0; i < 7; i++) {
    const f = logs().find((x) => x.request_id === ids[i]) as Record<string, string>;
    assert.equal((JSON.parse(String(f.prompt)) as { content: string }[])[0]?.content, big[i]);
  }
  rig.apply({});
});
