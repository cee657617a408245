/**
 * Issue 10's leak rule as one test: the local kinds and every remote kind (vendor errors echo
 * the request and its credentials), on every scanned endpoint family, JSON and streamed, block,
 * mask and monitor, driven with distinctive secrets (PII values, keywords, caller keys, provider
 * and vendor keys). The gateway's log lines (debug level), its /metrics exposition, every error
 * body and every usage event are collected; none may contain any secret.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { type CacheRig, cacheDocs, KEY_A, post, type Raw, startCacheRig } from '../test/cache-rig.js';
import { buildSnapshot, type Docs, sha256 } from '../test/fixtures.js';
import { anthropicJson, anthropicSse } from '../test/mock-anthropic.js';
import {
  chatJson,
  chatSse,
  json,
  type MockUpstream,
  type SeenRequest,
  startMockUpstream,
} from '../test/mock-upstream.js';
import type { UsageSink } from '../usage/bus.js';
import type { UsageEvent } from '../usage/events.js';

const KEYWORD = 'zephyr-obsidian-ledger';
const EMAIL = 'leak.check.9931@example.org';
const CARD = '4111111111111111';
const SSN = '219-09-9999';
const CALLER_KEY = 'sk-caller-leakcheck-7f3a9e';
const UNKNOWN_KEY = 'sk-unknown-leakcheck-51c0d2';
const VENDOR_KEY = 'sk-vendor-leakcheck-e8b214';
const REMOTE_SECRETS = {
  lakera: 'lak-leakcheck-0c41d7',
  azure: 'az-leakcheck-9e72b1',
  aws: 'aws/leakcheck+Secret0000000000000000000',
  aliyun: 'ali-leakcheck-secret-44f1',
};
// The provider keys of the shared fixtures.
const PROVIDER_KEYS = ['sk-upstream-secret', 'sk-anthropic-secret'];
const SECRETS = [
  KEYWORD,
  EMAIL,
  CARD,
  SSN,
  CALLER_KEY,
  UNKNOWN_KEY,
  VENDOR_KEY,
  ...Object.values(REMOTE_SECRETS),
  ...PROVIDER_KEYS,
];

let rig: CacheRig;
let vendor: MockUpstream;
const logs: string[] = [];
const events: UsageEvent[] = [];
const errors: string[] = [];
let rev = 500;

const sink: UsageSink = {
  name: 'leak-test',
  offer(es) {
    events.push(...es);
    return 0;
  },
};

before(async () => {
  const out = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  rig = await startCacheRig({ gateway: { logger: pino({ level: 'debug' }, out) } });
  vendor = await startMockUpstream();
  rig.g.gw.usage.attach(sink);
});

after(async () => {
  rig.g.gw.usage.detach(sink);
  await rig.close();
  await vendor.close();
});

const local = {
  kw: {
    name: 'codenames',
    kind: 'keyword',
    patterns: [
      { kind: 'literal', value: KEYWORD },
      { kind: 'regex', value: 'obsidian-[a-z]+' },
    ],
  },
  pii: {
    name: 'pii',
    kind: 'pii',
    detectors: [
      { type: 'email', action: 'mask' },
      { type: 'bank_card', action: 'mask' },
      { type: 'us_ssn', action: 'block' },
    ],
  },
};

function guard(guardrails: Record<string, Record<string, unknown>>): void {
  rig.reset();
  const extra: Docs = { api_keys: { kx: { key_hash: sha256(CALLER_KEY), allowed_models: ['*'] } } };
  const docs = { ...cacheDocs(rig.up.url, rig.anth.url, {}, extra), guardrails } as Docs;
  rig.g.source.set(buildSnapshot(docs, ++rev));
}

/** A POST whose answer is recorded when it is an error (or a stream carrying an error frame). */
async function send(path: string, body: Record<string, unknown>, key = CALLER_KEY): Promise<Raw> {
  const r = await post(rig.g.base, path, body, { key });
  if (r.status >= 400 || /"error"|event: error/.test(r.text)) errors.push(r.text);
  return r;
}

const chat = (content: string, extra: Record<string, unknown> = {}) =>
  send('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra });
const messages = (content: string, extra: Record<string, unknown> = {}) =>
  send('/v1/messages', { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content }], ...extra });
const responses = (input: string, extra: Record<string, unknown> = {}) =>
  send('/v1/responses', { model: 'gpt-4o-mini', input, ...extra });
const completions = (prompt: string) => send('/v1/completions', { model: 'gpt-4o-mini', prompt });
const embeddings = (input: string) => send('/v1/embeddings', { model: 'gpt-4o-mini', input });

test('no secret reaches a log line, a metric, an error body or a usage event', async () => {
  const prompts = [`about ${KEYWORD}`, `mail ${EMAIL} card ${CARD}`, `ssn ${SSN}`, `obsidian-vault`];

  // Local kinds, enforce: input block and mask on every family.
  guard(local);
  for (const p of prompts) {
    const statuses = [
      (await chat(p)).status,
      (await chat(p, { stream: true })).status,
      (await messages(p)).status,
      (await messages(p, { stream: true })).status,
      (await responses(p)).status,
      (await responses(p, { stream: true })).status,
      (await completions(p)).status,
      (await embeddings(p)).status,
    ];
    const blocks = p.startsWith('mail') ? 200 : 422;
    assert.deepEqual(new Set(statuses), new Set([blocks]), `${p}: ${statuses}`);
  }

  // Output: JSON and streamed answers carrying each secret, in each dialect.
  for (const answer of [`say ${KEYWORD}`, `write ${EMAIL}`, `card ${CARD}`, `ssn ${SSN}`]) {
    rig.up.handle(chatJson(answer));
    await chat('hi');
    rig.up.handle(chatSse({ words: answer.split(/(?<=\s)|(?=[.@-])/) }));
    await chat('hi', { stream: true });
    rig.anth.handle(anthropicJson(answer));
    await messages('hi');
    rig.anth.handle(anthropicSse({ words: [...answer] }));
    await messages('hi', { stream: true });
  }

  // Monitor mode: the same traffic passes and only records hits.
  guard({
    kw: { ...local.kw, enforcement_mode: 'monitor' },
    pii: { ...local.pii, enforcement_mode: 'monitor' },
  });
  for (const p of prompts) assert.equal((await chat(p)).status, 200);
  // The secrets did travel: the upstream saw them unmasked in monitor mode.
  assert.ok(rig.up.requests.some((r) => r.body.includes(SSN)));
  rig.up.handle(chatJson(`again ${KEYWORD} ${SSN}`));
  assert.equal((await chat('hi')).status, 200);

  // A remote vendor that answers with errors echoing the text and its key, then flags.
  const echo = (status: number) => (req: SeenRequest, res: ServerResponse) =>
    json(res, status, { error: { message: `bad ${req.body} with ${JSON.stringify(req.headers)}` } });
  const moderation = (extra: Record<string, unknown> = {}) => ({
    mod: {
      name: 'mod',
      kind: 'openai_moderation',
      api_key: VENDOR_KEY,
      endpoint: `${vendor.url}/v1`,
      ...extra,
    },
  });
  guard(moderation({ fail_open: false }));
  for (const status of [400, 401, 500]) {
    vendor.handle(echo(status));
    assert.notEqual((await chat(`about ${KEYWORD} ${EMAIL}`)).status, 200);
  }
  guard(moderation({ fail_open: true, output_fail_open: true }));
  vendor.handle(echo(500));
  assert.equal((await chat(`about ${KEYWORD} ${EMAIL}`)).status, 200);
  guard(moderation());
  vendor.handle((_req, res) =>
    json(res, 200, {
      id: 'm',
      model: 'x',
      results: [{ flagged: true, categories: {}, category_scores: {} }],
    }),
  );
  assert.equal((await chat(`about ${KEYWORD}`)).status, 422);
  assert.equal(vendor.requests.at(-1)?.headers.authorization, `Bearer ${VENDOR_KEY}`);

  // Every other remote kind, failing closed on vendor errors that echo the request.
  const remotes = [
    { kind: 'lakera', api_key: REMOTE_SECRETS.lakera, endpoint: vendor.url },
    {
      kind: 'presidio',
      analyzer_url: `${vendor.url}/analyzer`,
      anonymizer_url: `${vendor.url}/anonymizer`,
      entities: [{ type: 'EMAIL_ADDRESS', action: 'mask' }],
    },
    {
      kind: 'bedrock',
      region: 'us-east-1',
      guardrail_id: 'gr-1',
      guardrail_version: '1',
      aws_credentials: {
        kind: 'static',
        access_key_id: 'AKIDLEAKCHECK',
        secret_access_key: REMOTE_SECRETS.aws,
      },
      latency_mode: { kind: 'serial' },
      endpoint: vendor.url,
    },
    { kind: 'azure_content_safety', endpoint: vendor.url, api_key: REMOTE_SECRETS.azure },
    { kind: 'azure_content_safety_text_moderation', endpoint: vendor.url, api_key: REMOTE_SECRETS.azure },
    {
      kind: 'aliyun_text_moderation',
      region: 'cn-shanghai',
      access_key_id: 'LTAI-leakcheck',
      access_key_secret: REMOTE_SECRETS.aliyun,
      endpoint: vendor.url,
    },
  ];
  for (const doc of remotes) {
    guard({ r: { name: `remote-${doc.kind}`, fail_open: false, ...doc } });
    for (const status of [401, 500]) {
      vendor.handle(echo(status));
      const n = vendor.requests.length;
      assert.equal((await chat(`about ${KEYWORD} ${EMAIL}`)).status, 422, doc.kind);
      assert.ok(vendor.requests.length > n, `${doc.kind} asked the vendor`);
    }
  }

  assert.ok(vendor.requests.some((q) => q.headers['ocp-apim-subscription-key'] === REMOTE_SECRETS.azure));

  // Caller keys: unknown, and a known one whose request fails upstream.
  const unknown = await send('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }, UNKNOWN_KEY);
  assert.equal(unknown.status, 401);
  guard(local);
  rig.up.handle((_req, res) => json(res, 500, { error: { message: 'upstream broke' } }));
  assert.ok((await chat(`about ${EMAIL}`)).status >= 500);
  assert.equal(
    (await send('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [] }, KEY_A)).status,
    400,
  );

  // Every request has produced its usage event by now.
  const deadline = Date.now() + 10_000;
  while (events.length < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(events.length >= 60, `usage events: ${events.length}`);
  assert.ok(events.some((e) => e.guardrail_blocked));
  assert.ok(events.some((e) => e.guardrail_monitor_hits.length > 0));
  assert.ok(errors.length >= 30, `errors: ${errors.length}`);

  const metrics = await (await fetch(`http://127.0.0.1:${rig.g.gw.metricsPort}/metrics`)).text();
  assert.match(metrics, /aisix_guardrail_blocks_total/);
  const places: Record<string, string> = {
    logs: logs.join(''),
    metrics,
    errors: errors.join('\n'),
    usage: JSON.stringify(events),
  };
  assert.ok(logs.length > 0);
  for (const [where, text] of Object.entries(places)) {
    const lower = text.toLowerCase();
    for (const s of [...SECRETS, 'obsidian-vault'])
      assert.equal(lower.includes(s.toLowerCase()), false, `${s} in ${where}`);
  }
});
