/**
 * The `datadog` observability exporter, live from the config store, against a local HTTP server
 * that checks the Datadog logs intake format (`POST /api/v2/logs`, `DD-API-KEY` from the
 * `DD_CRED_<SLUG>_API_KEY` environment variable, a JSON array of entries with `ddsource`,
 * `ddtags`, `hostname`, `service`, `message`; a body over the intake's 5 MB or 1,000 entries is
 * answered 413 as the real intake does): usage events arrive as entries dated by `timestamp`, a
 * 5xx and a 408 are retried, full-content batches are split under the limits, a missing
 * credential delivers nothing, and no prompt or key text is shipped.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type ExporterRig, startExporterRig } from '../test/exporter-rig.js';
import { CALLER_KEY } from '../test/fixtures.js';
import { chatJson } from '../test/mock-upstream.js';
import { credentialEnv, intakeUrl } from './datadog-sink.js';

interface Post {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  readonly bytes: number;
  readonly status: number;
}

/** The intake's documented limits (uncompressed payload, entries per payload, bytes per entry). */
const INTAKE_MAX_BYTES = 5_000_000;
const INTAKE_MAX_ENTRIES = 1000;
const INTAKE_MAX_ENTRY_BYTES = 1_000_000;

let rig: ExporterRig;
let intake: Server;
let port = 0;
const posts: Post[] = [];
let script: number[] = [202];

before(async () => {
  process.env.DD_CRED_TEAM_A_API_KEY = 'dd-key-123';
  delete process.env.DD_CRED_NOBODY_API_KEY;
  intake = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const raw = body.toString('utf8');
      let n = 0;
      try {
        n = (JSON.parse(raw) as unknown[]).length;
      } catch {}
      // The real intake refuses a payload over its limits with 413, before anything else.
      const tooLarge = body.length > INTAKE_MAX_BYTES || n > INTAKE_MAX_ENTRIES;
      const status = tooLarge ? 413 : script.length > 1 ? (script.shift() as number) : (script[0] ?? 202);
      posts.push({ url: req.url ?? '', headers: req.headers, raw, bytes: body.length, status });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => intake.listen(0, '127.0.0.1', r));
  port = (intake.address() as AddressInfo).port;
  rig = await startExporterRig();
});

after(async () => {
  await rig.close();
  await new Promise((r) => intake.close(r));
});

test('credential and intake resolution', () => {
  assert.equal(credentialEnv('team-a'), 'DD_CRED_TEAM_A_API_KEY');
  assert.equal(credentialEnv('prod.eu/1'), 'DD_CRED_PROD_EU_1_API_KEY');
  assert.equal(intakeUrl('datadoghq.eu'), 'https://http-intake.logs.datadoghq.eu/api/v2/logs');
  assert.equal(intakeUrl('us5.datadoghq.com'), 'https://http-intake.logs.us5.datadoghq.com/api/v2/logs');
  assert.equal(intakeUrl('127.0.0.1:8126'), 'http://127.0.0.1:8126/api/v2/logs');
});

test('usage events arrive as Datadog log entries; a 5xx is retried', async () => {
  script = [500, 202];
  rig.apply({
    dd: {
      name: 'dd',
      kind: 'datadog',
      site: `127.0.0.1:${port}`,
      service: 'aisix-test',
      credential_ref: 'team-a',
      tags: ['env:test', 'team:a'],
    },
  });
  const id = await rig.chat();
  const deadline = Date.now() + 15_000;
  while (!posts.some((p) => p.status === 202)) {
    assert.ok(Date.now() < deadline, `intake posts: ${posts.map((p) => p.status).join(',')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const [failed, ok] = posts as [Post, Post];
  assert.equal(failed.status, 500);
  assert.equal(ok.raw, failed.raw, 'the same batch again');
  assert.equal(ok.url, '/api/v2/logs');
  assert.equal(ok.headers['dd-api-key'], 'dd-key-123');
  assert.match(String(ok.headers['content-type']), /^application\/json/);
  const entries = JSON.parse(ok.raw) as Record<string, unknown>[];
  assert.ok(Array.isArray(entries));
  const e = entries.find((x) => x.request_id === id);
  assert.ok(e, 'the request has an entry');
  assert.equal(e.ddsource, 'aisix-ai-gateway');
  assert.equal(e.service, 'aisix-test');
  assert.equal(e.ddtags, 'env:test,team:a');
  assert.equal(typeof e.hostname, 'string');
  assert.equal(typeof e.message, 'string');
  assert.equal(e.status, 'info');
  assert.equal(e.status_code, 200);
  assert.equal(e.prompt_tokens, 9);
  assert.equal(e.completion_tokens, 3);
  assert.equal(e.api_key_id, 'k1');
  // Datadog's reserved date attribute: the event time in epoch milliseconds.
  assert.equal(e.timestamp, Date.parse(String(e.occurred_at)));
  for (const p of posts) {
    assert.ok(!p.raw.includes('a secret prompt'));
    assert.ok(!p.raw.includes(CALLER_KEY));
    assert.ok(!p.raw.includes('sk-upstream-secret'));
    assert.ok(!p.raw.includes('dd-key-123'));
  }
});

test('a missing credential delivers nothing; removed, nothing more is sent', async () => {
  rig.apply({
    dd: { name: 'dd2', kind: 'datadog', site: `127.0.0.1:${port}`, service: 's', credential_ref: 'nobody' },
  });
  posts.length = 0;
  await rig.chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(posts.length, 0);
  rig.apply({});
  await rig.chat();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(posts.length, 0);
});

async function deliveryFailed(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${rig.g.gw.metricsPort}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('aisix_usage_event_drops_total{reason="delivery_failed"} '));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function until(ok: () => Promise<boolean>, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await ok())) {
    assert.ok(Date.now() < deadline, typeof what === 'string' ? what : what());
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('events lost to a refusing intake or a missing credential are counted as drops (delivery_failed)', async () => {
  script = [400];
  posts.length = 0;
  rig.apply({
    dd: { name: 'dd3', kind: 'datadog', site: `127.0.0.1:${port}`, service: 's', credential_ref: 'team-a' },
  });
  const before = await deliveryFailed();
  await rig.chat();
  await rig.chat();
  // Two requests, one attempt each: two events, refused (a 4xx is not retried).
  await until(async () => (await deliveryFailed()) === before + 2, 'two events counted as lost');
  assert.ok(posts.every((p) => p.status === 400));
  rig.apply({
    dd: { name: 'dd4', kind: 'datadog', site: `127.0.0.1:${port}`, service: 's', credential_ref: 'nobody' },
  });
  await rig.chat();
  await until(
    async () => (await deliveryFailed()) === before + 3,
    'the uncredentialed event counted as lost',
  );
  script = [202];
  rig.apply({});
});

test('a 408 from the intake is retried (Datadog lists it as retryable)', async () => {
  script = [408, 202];
  posts.length = 0;
  rig.apply({
    dd: { name: 'dd408', kind: 'datadog', site: `127.0.0.1:${port}`, service: 's', credential_ref: 'team-a' },
  });
  const id = await rig.chat();
  await until(
    async () => posts.some((p) => p.status === 202),
    'the batch answered 408 is sent again and accepted',
  );
  const [first, second] = posts as [Post, Post];
  assert.equal(first.status, 408);
  assert.equal(second.raw, first.raw);
  assert.ok((JSON.parse(second.raw) as Record<string, unknown>[]).some((x) => x.request_id === id));
  script = [202];
  rig.apply({});
});

const ddFull = (name: string) => ({
  dd: {
    name,
    kind: 'datadog',
    site: `127.0.0.1:${port}`,
    service: 's',
    credential_ref: 'team-a',
    content_mode: 'full',
    content_max_bytes: 1_048_576,
  },
});

async function chatWith(prompt: string): Promise<string> {
  const { response } = await rig.client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] })
    .withResponse();
  return response.headers.get('x-aisix-request-id') as string;
}

test('full content: a batch over 5 MB is split under the intake limits; a retried part does not resend the accepted one', async () => {
  // The first part is accepted, the second answered 500 once, then everything is accepted.
  script = [202, 500, 202];
  posts.length = 0;
  rig.apply(ddFull('dd-big'));
  const failedBefore = await deliveryFailed();
  // Seven ~900 KB prompts and one small request, in one flush interval: 6.3 MB of entries.
  const big = Array.from({ length: 7 }, (_, i) => `${i}`.repeat(900_000));
  const ids = await Promise.all([...big.map((p) => chatWith(p)), rig.chat()]);
  await until(
    async () => {
      const accepted = posts
        .filter((p) => p.status === 202)
        .flatMap((p) => JSON.parse(p.raw) as Record<string, unknown>[]);
      return ids.every((id) => accepted.some((x) => x.request_id === id));
    },
    () => `every request delivered; posts: ${posts.map((p) => `${p.status}/${p.bytes}`).join(',')}`,
  );
  assert.ok(posts.length >= 3, 'more than one request to the intake');
  for (const p of posts) {
    assert.ok(p.bytes <= INTAKE_MAX_BYTES, `a ${p.bytes}-byte payload`);
    assert.notEqual(p.status, 413);
  }
  const accepted = posts
    .filter((p) => p.status === 202)
    .flatMap((p) => JSON.parse(p.raw) as Record<string, unknown>[]);
  for (const id of ids)
    assert.equal(accepted.filter((x) => x.request_id === id).length, 1, `${id} delivered exactly once`);
  const refused = posts.findIndex((p) => p.status === 500);
  assert.equal(posts[refused + 1]?.raw, posts[refused]?.raw, 'the refused part, and only it, again');
  for (let i = 0; i < 7; i++) {
    const e = accepted.find((x) => x.request_id === ids[i]) as Record<string, unknown>;
    const prompt = JSON.parse(String(e.prompt)) as { content: string }[];
    assert.equal(prompt[0]?.content, big[i], 'the whole prompt (under 1 MB per entry)');
    assert.equal(e.content_truncated, undefined);
  }
  assert.equal(await deliveryFailed(), failedBefore, 'nothing lost');
  script = [202];
  rig.apply({});
});

test('full content: an entry over 1 MB has its prompt and completion cut to fit, marked content_truncated', async () => {
  script = [202];
  posts.length = 0;
  rig.apply(ddFull('dd-huge'));
  // A ~1 MB prompt (its quotes grow when escaped, twice: in the messages JSON, then in the
  // entry's) and a ~0.9 MB completion: each gets half of the entry's room.
  const prompt = '"q" '.repeat(250_000);
  rig.up.handle(chatJson('a'.repeat(900_000)));
  const id = await chatWith(prompt);
  rig.up.handle(chatJson('hi'));
  await until(async () => posts.some((p) => p.raw.includes(id)), 'the entry is delivered');
  const p = posts.find((x) => x.raw.includes(id)) as Post;
  assert.equal(p.status, 202);
  const entries = JSON.parse(p.raw) as Record<string, unknown>[];
  const e = entries.find((x) => x.request_id === id) as Record<string, unknown>;
  const size = Buffer.byteLength(JSON.stringify(e));
  assert.ok(size <= INTAKE_MAX_ENTRY_BYTES, `a ${size}-byte entry`);
  assert.ok(size > INTAKE_MAX_ENTRY_BYTES - 1000, `the room is used: ${size} bytes`);
  assert.equal(e.content_truncated, true);
  const fullPrompt = JSON.stringify([{ role: 'user', content: prompt }]);
  assert.ok(String(e.prompt).length > 100_000 && fullPrompt.startsWith(String(e.prompt)));
  assert.ok(String(e.prompt).length < fullPrompt.length);
  const completion = String(e.completion);
  assert.ok(completion.length > 400_000 && completion.length < 900_000, `${completion.length}`);
  assert.ok(/^a+$/.test(completion));
  // Metadata intact.
  assert.equal(e.status_code, 200);
  assert.equal(e.api_key_id, 'k1');
  rig.apply({});
});
