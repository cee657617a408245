/**
 * The access log through a started gateway (data-plane §12.1): one `proxy request completed`
 * line per request with the contract's fields, on success, stream, pre-dispatch rejection and
 * fail-over; none for a 401. The logger is a real pino instance writing to a capture stream.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { pino } from 'pino';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
  standardDocs,
  startTestGateway,
} from '../test/fixtures.js';
import { responsesFailedSse } from '../test/mock-responses.js';
import {
  chatJson,
  chatSse,
  chunk,
  json,
  type MockUpstream,
  startMockUpstream,
  USAGE,
} from '../test/mock-upstream.js';
import { collectingSink } from '../test/usage-sink.js';
import { ACCESS_LOG_MESSAGE, type AccessLine, FLUSH_DELAY_MS } from './access-log.js';

const IDP_ISSUER = 'https://idp.example';

/** A parsed line: the access-log fields plus pino's framing. */
type Line = AccessLine & { readonly msg: string; readonly level: number };

let up: MockUpstream;
let down: MockUpstream;
let g: Started;
let client: OpenAI;
const lines: Line[] = [];
/** Every other log line. */
const others: Record<string, unknown>[] = [];

before(async () => {
  up = await startMockUpstream(chatJson('hi'));
  down = await startMockUpstream((_req, res) => json(res, 503, { error: { message: 'overloaded' } }));
  const docs = standardDocs(up.url, {
    provider_keys: {
      pkd: { display_name: 'down', api_key: 'kd', provider: 'openai', api_base: `${down.url}/v1` },
    },
    models: {
      td: { display_name: 'target-down', provider: 'openai', model_name: 'd', provider_key_id: 'pkd' },
      tu: { display_name: 'target-up', provider: 'openai', model_name: 'u', provider_key_id: 'pk1' },
      tn: { display_name: 'modèle', provider: 'openai', model_name: 'u', provider_key_id: 'pk1' },
      gn: { display_name: 'grp-accent', routing: { strategy: 'failover', targets: [{ model: 'modèle' }] } },
      grp: {
        display_name: 'grp',
        routing: { strategy: 'failover', targets: [{ model: 'target-down' }, { model: 'target-up' }] },
      },
    },
  });
  // An identity provider whose signing keys cannot be fetched (nothing listens on port 1).
  const oidc_providers = {
    o1: { name: 'idp', issuer: IDP_ISSUER, audiences: ['aisix'], jwks_uri: 'http://127.0.0.1:1/jwks' },
  };
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l === '') continue;
        const parsed = JSON.parse(l) as Line;
        if (parsed.msg === ACCESS_LOG_MESSAGE) lines.push(parsed);
        else others.push(parsed as unknown as Record<string, unknown>);
      }
      cb();
    },
  });
  g = await startTestGateway(buildSnapshot({ ...docs, oidc_providers } as Docs), undefined, {
    logger: pino({ level: 'info' }, sink),
  });
  client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
  await down.close();
});

/** The line of request `id`, once the batch holding it was written. */
async function lineOf(id: string): Promise<Line> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const l = lines.find((x) => x.request_id === id);
    if (l) return l;
    assert.ok(Date.now() < deadline, `no access line for ${id}`);
    await new Promise((r) => setTimeout(r, FLUSH_DELAY_MS));
  }
}

test('a served chat completion: every field of the line', async () => {
  up.handle(chatJson('hi'));
  const { response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })
    .withResponse();
  const id = response.headers.get('x-aisix-request-id') ?? '';
  const l = await lineOf(id);
  assert.equal(l.level, 30);
  assert.equal(l.method, 'POST');
  assert.equal(l.path, '/v1/chat/completions');
  assert.equal(l.status, 200);
  assert.equal(typeof l.latency_ms, 'number');
  assert.ok(l.latency_ms > 0);
  assert.equal(l.provider, 'openai');
  assert.equal(l.model, 'gpt-4o-mini');
  assert.equal(l.api_key_id, 'k1');
  assert.equal(l.prompt_tokens, USAGE.prompt_tokens);
  assert.equal(l.completion_tokens, USAGE.completion_tokens);
  assert.equal(l.total_tokens, USAGE.total_tokens);
  assert.equal(l.served_by_model, 'gpt-4o-mini');
  assert.equal(l.routing_attempt_count, 1);
  assert.equal(l.routing_fallback_count, 0);
  assert.equal(l.error_kind, null);
  assert.equal(l.error, null);
});

test('a stream: usage from the stream, status 200', async () => {
  up.handle(chatSse());
  const { data: stream, response } = await client.chat.completions
    .create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    .withResponse();
  for await (const _ of stream) {
    // drain
  }
  const l = await lineOf(response.headers.get('x-aisix-request-id') ?? '');
  assert.equal(l.status, 200);
  assert.equal(l.total_tokens, USAGE.total_tokens);
  assert.equal(l.error_kind, null);
});

test('a native Responses stream ended by response.failed is recorded as the failure it is, like an in-band chat error after commit', async () => {
  const sink = collectingSink();
  g.gw.usage.attach(sink);
  try {
    // The chat path: 200 committed, one chunk, then an in-band error (data-plane §6.2, §6.5).
    up.handle((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk(String(req.json?.model), { role: 'assistant', content: 'part' }));
      res.end('data: {"error":{"message":"chat went wrong","type":"server_error"}}\n\n');
    });
    const chatRes = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      }),
    });
    await chatRes.text();
    const chatLine = await lineOf(chatRes.headers.get('x-aisix-request-id') ?? '');
    assert.equal(chatLine.error, 'chat went wrong');

    // `/v1/responses` to an OpenAI model (native passthrough): the upstream's own terminal event
    // says the response failed. It reaches the caller as sent...
    up.handle(
      responsesFailedSse(['Hel'], {
        code: 'server_error',
        message: 'The model failed to generate a response.',
      }),
    );
    const before = g.gw.health.state('m1')?.consecutiveFailures ?? 0;
    const { data: stream, response } = await client.responses
      .create({ model: 'gpt-4o-mini', input: 'x', stream: true })
      .withResponse();
    const types: string[] = [];
    for await (const e of stream) types.push(e.type);
    assert.equal(types.at(-1), 'response.failed');
    assert.equal(types.includes('error'), false, 'no error frame of ours after the terminal event');
    // ...and is recorded as a failure, with the same status class as the chat path's.
    const id = response.headers.get('x-aisix-request-id') ?? '';
    const l = await lineOf(id);
    assert.equal(l.status, chatLine.status);
    assert.equal(l.error_kind, chatLine.error_kind);
    assert.notEqual(l.error_kind, null);
    assert.equal(l.error, 'The model failed to generate a response.');
    const deadline = Date.now() + 2000;
    while (!sink.events.some((e) => e.request_id === id) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    const ev = sink.events.find((e) => e.request_id === id);
    const chatEv = sink.events.find((e) => e.request_id === chatLine.request_id);
    assert.equal(ev?.status_code, chatEv?.status_code);
    assert.equal(ev?.error_class, chatEv?.error_class);
    assert.notEqual(ev?.error_class, null);
    assert.equal(ev?.error_message, 'The model failed to generate a response.');
    assert.equal(
      g.gw.health.state('m1')?.consecutiveFailures ?? 0,
      before + 1,
      'a failed attempt for the target',
    );
  } finally {
    g.gw.usage.detach(sink);
  }
});

test('a caller-chosen model name is kept to its first 256 characters in the line (wildcard and unknown models)', async () => {
  up.handle(chatJson('hi'));
  const long = `mock/${'m'.repeat(100 * 1024)}`;
  const served = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: long, messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(served.status, 200);
  const l = await lineOf(served.headers.get('x-aisix-request-id') ?? '');
  assert.ok(l.model === long.slice(0, 256), `model of ${l.model?.length} characters`);
  assert.equal(l.served_by_model, 'mock/*');
  const unknown = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: `nope-${'n'.repeat(100 * 1024)}`,
      messages: [{ role: 'user', content: 'x' }],
    }),
  });
  assert.equal(unknown.status, 404);
  const u = await lineOf(unknown.headers.get('x-aisix-request-id') ?? '');
  assert.ok(
    u.model?.length === 256 && u.model.startsWith('nope-n'),
    `model of ${u.model?.length} characters`,
  );
});

test('a pre-dispatch rejection is logged with its error and null tokens; a 401 is not logged', async () => {
  const bad = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: '{"model": "gpt-4o-mini", ',
  });
  assert.equal(bad.status, 400);
  const l = await lineOf(bad.headers.get('x-aisix-request-id') ?? '');
  assert.equal(l.status, 400);
  assert.equal(l.error_kind, 'invalid_request_error');
  assert.equal(typeof l.error, 'string');
  assert.equal(l.prompt_tokens, null);
  assert.equal(l.total_tokens, null);
  assert.equal(l.routing_attempt_count, 0);

  const denied = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-wrong', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [] }),
  });
  assert.equal(denied.status, 401);
  const deniedId = denied.headers.get('x-aisix-request-id') ?? '';
  // A later line proves the batch holding a 401 line (if any) was written.
  const after = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
    body: '[]',
  });
  await lineOf(after.headers.get('x-aisix-request-id') ?? '');
  assert.equal(
    lines.find((x) => x.request_id === deniedId),
    undefined,
  );
});

test('fail-over in a routing group: two attempts, one fallback, served by the second target', async () => {
  up.handle(chatJson('hi'));
  const { response } = await client.chat.completions
    .create({ model: 'grp', messages: [{ role: 'user', content: 'x' }] })
    .withResponse();
  assert.equal(response.headers.get('x-aisix-served-by'), 'target-up');
  const l = await lineOf(response.headers.get('x-aisix-request-id') ?? '');
  assert.equal(l.status, 200);
  assert.equal(l.model, 'grp');
  assert.equal(l.served_by_model, 'target-up');
  assert.equal(l.routing_attempt_count, 2);
  assert.equal(l.routing_fallback_count, 1);
});

test('a disabled or expired key is refused (401, not access-logged) and warned with its key id (§3.2)', async () => {
  for (const [key, id, reason] of [
    ['sk-disabled', 'k2', 'key_disabled'],
    ['sk-expired', 'k3', 'key_expired'],
  ] as const) {
    const r = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(r.status, 401);
    const rid = r.headers.get('x-aisix-request-id');
    const w = others.find((l) => l.request_id === rid && l.msg === 'caller key rejected');
    assert.ok(w, `no warning for ${reason}`);
    assert.equal(w.level, 40);
    assert.equal(w.reason, reason);
    assert.equal(w.api_key_id, id);
    assert.ok(!JSON.stringify(w).includes(key), 'the key itself is never logged');
  }
});

test('a member alias that is not a plain header value: no x-aisix-served-by; the log still names it', async () => {
  up.handle(chatJson('hi'));
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-all', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'grp-accent', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-aisix-served-by'), null);
  const l = await lineOf(r.headers.get('x-aisix-request-id') ?? '');
  assert.equal(l.served_by_model, 'modèle');
});

test('signing keys unavailable (503 jwks_unavailable) is logged: only 401/403 auth refusals are not (agents-and-jobs §4.5)', async () => {
  const seg = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const jwt = `${seg({ alg: 'RS256', kid: 'k1' })}.${seg({ iss: IDP_ISSUER, sub: 'alice', aud: 'aisix', exp: 4102444800 })}.${seg('sig')}`;
  const r = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
  });
  assert.equal(r.status, 503);
  assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'jwks_unavailable');
  const l = await lineOf(r.headers.get('x-aisix-request-id') ?? '');
  assert.equal(l.status, 503);
  assert.equal(l.error_kind, 'api_error');
  assert.equal(l.api_key_id, null);
  assert.ok(!JSON.stringify(l).includes(jwt), 'the token itself is never logged');
});
