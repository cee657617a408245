/**
 * The request-lifecycle seam, through a started gateway and a real mock upstream: test
 * interceptors refuse, answer, replace bodies, add headers, gate attempts and tap output, on
 * every endpoint family (JSON and streamed), and `finish` runs exactly once per request
 * (success, refusal, failure, client cancel).
 */
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { request } from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { ConfigSnapshot } from '@aisix/core';
import OpenAI from 'openai';
import { GatewayError } from '../errors.js';
import { buildSnapshot, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { responsesJson, responsesSse } from '../test/mock-responses.js';
import { chatJson, chatSse, json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import type { Begin, Interceptor, RequestFacts } from './lifecycle.js';
import type { AttemptFacts, Outcome, Scope } from './scopes.js';

interface Log {
  begins: string[];
  attempts: string[];
  attemptEnds: boolean[];
  jsonTaps: number;
  streamPushes: string[];
  streamEnds: number;
  finishes: Outcome[];
  compiles: number;
}

const log: Log = {
  begins: [],
  attempts: [],
  attemptEnds: [],
  jsonTaps: 0,
  streamPushes: [],
  streamEnds: 0,
  finishes: [],
  compiles: 0,
};

/** What the test interceptor does for the next requests (by `x-test-mode`). */
function modeOf(f: RequestFacts): string {
  const h = f.ctx.req.headers['x-test-mode'];
  return typeof h === 'string' ? h : 'scope';
}

function recordingScope(refuseAlias?: string): Scope {
  return {
    attempt(a: AttemptFacts) {
      log.attempts.push(a.alias);
      if (a.alias === refuseAlias)
        return new GatewayError(429, 'rate_limit_exceeded', 'target over its limit', undefined, undefined, {
          'retry-after': '7',
        });
      return undefined;
    },
    attemptEnd(ok) {
      log.attemptEnds.push(ok);
    },
    headers(h: OutgoingHttpHeaders) {
      h['x-test-scope'] = 'yes';
    },
    json(body) {
      log.jsonTaps++;
      return body.replace('Hello!', 'TAPPED!');
    },
    stream() {
      return {
        push(text) {
          log.streamPushes.push(text);
          return text;
        },
        end() {
          log.streamEnds++;
          return '';
        },
      };
    },
    finish(o) {
      log.finishes.push(o);
    },
  };
}

const testInterceptor: Interceptor<string> = {
  name: 'test',
  compile(snapshot: ConfigSnapshot) {
    log.compiles++;
    return snapshot.byId('models').size > 0 ? 'plan' : undefined;
  },
  begin(plan, f): Begin | Promise<Begin> {
    assert.equal(plan, 'plan');
    const mode = modeOf(f);
    log.begins.push(`${f.route.kind}:${mode}`);
    switch (mode) {
      case 'refuse':
        return { refuse: new GatewayError(429, 'rate_limit_exceeded', 'refused by test') };
      case 'answer-json':
        return {
          scope: recordingScope(),
          answer: { kind: 'json', body: '{"answer":"Hello!"}', headers: { 'x-test-answer': 'json' } },
        };
      case 'answer-sse':
        return Promise.resolve({
          scope: recordingScope(),
          answer: {
            kind: 'sse',
            body: 'data: {"a":1}\n\ndata: [DONE]\n\n',
            headers: { 'x-test-answer': 'sse' },
          },
        });
      case 'replace':
        return {
          scope: recordingScope(),
          body: { ...f.body, messages: [{ role: 'user', content: 'REPLACED' }] },
        };
      case 'gate-first':
        return { scope: recordingScope('m-a') };
      case 'gate-all':
        return {
          scope: {
            ...recordingScope('m-a'),
            attempt: () => new GatewayError(429, 'rate_limit_exceeded', 'all over'),
          },
        };
      case 'throw':
        return {
          scope: {
            headers() {
              throw new Error('boom');
            },
            finish(o) {
              log.finishes.push(o);
            },
          },
        };
      default:
        return { scope: recordingScope() };
    }
  },
};

let up: MockUpstream;
let g: Started;
let client: OpenAI;

function routeUpstream(): void {
  up.handle((req, res) => {
    const stream = req.json?.stream === true;
    if (req.url.endsWith('/responses')) return (stream ? responsesSse() : responsesJson())(req, res);
    if (req.url.endsWith('/embeddings'))
      return json(res, 200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
        model: 'e',
        usage: { prompt_tokens: 2, total_tokens: 2 },
      });
    if (req.url.endsWith('/completions') && !req.url.endsWith('/chat/completions'))
      return json(res, 200, {
        id: 'cmpl-1',
        object: 'text_completion',
        created: 1,
        model: 'x',
        choices: [{ text: 'Hello!', index: 0, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    if (req.url.endsWith('/rerank')) return json(res, 200, { results: [], usage: { total_tokens: 3 } });
    return (stream ? chatSse({ gapMs: req.json?.max_tokens === 999 ? 200 : 0 }) : chatJson())(req, res);
  });
}

before(async () => {
  up = await startMockUpstream();
  const docs = standardDocs(up.url, {
    models: {
      ma: { display_name: 'm-a', provider: 'openai', model_name: 'up-a', provider_key_id: 'pk1' },
      mb: { display_name: 'm-b', provider: 'openai', model_name: 'up-b', provider_key_id: 'pk1' },
      grp: {
        display_name: 'grp',
        routing: { strategy: 'failover', targets: [{ model: 'm-a' }, { model: 'm-b' }] },
      },
      rr: { display_name: 'rr', provider: 'openai', model_name: 'rerank-v3', provider_key_id: 'pk1' },
    },
  });
  g = await startTestGateway(buildSnapshot(docs), undefined, {
    interceptors: [testInterceptor as Interceptor],
  });
  client = new OpenAI({ apiKey: 'sk-all', baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

beforeEach(() => {
  routeUpstream();
  Object.assign(log, {
    begins: [],
    attempts: [],
    attemptEnds: [],
    jsonTaps: 0,
    streamPushes: [],
    streamEnds: 0,
    finishes: [],
  });
});

/** `finish` runs on response close, just after the client has the body: wait for it. */
async function finishes(n: number): Promise<Outcome[]> {
  for (let i = 0; i < 100 && log.finishes.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 20));
  return log.finishes;
}

const mode = (m: string) => ({ headers: { 'x-test-mode': m } });
const hello = [{ role: 'user' as const, content: 'hello' }];

describe('every endpoint family goes through the seam', () => {
  test('chat JSON: scope header, JSON tap, one attempt, finish once with the usage', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: hello }, mode('scope'))
      .withResponse();
    assert.equal(response.headers.get('x-test-scope'), 'yes');
    assert.equal(data.choices[0]?.message.content, 'TAPPED!');
    assert.deepEqual(log.attempts, ['gpt-4o-mini']);
    assert.deepEqual(log.attemptEnds, [true]);
    const f = await finishes(1);
    assert.equal(f.length, 1);
    assert.equal(f[0]?.status, 200);
    assert.equal(f[0]?.cancelled, false);
    assert.equal(f[0]?.usage?.total_tokens, 12);
  });

  test('chat stream: the tap sees the caller-dialect output and its end; finish once', async () => {
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o-mini', messages: hello, stream: true },
      mode('scope'),
    );
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, 'Hello!');
    assert.ok(log.streamPushes.join('').includes('"content":"lo"'));
    assert.ok(log.streamPushes.join('').endsWith('data: [DONE]\n\n'));
    assert.equal(log.streamEnds, 1);
    assert.equal((await finishes(1)).length, 1);
  });

  for (const [name, call] of [
    [
      'completions',
      () => client.completions.create({ model: 'gpt-4o-mini', prompt: 'hi' }, mode('scope')).withResponse(),
    ],
    [
      'embeddings',
      () => client.embeddings.create({ model: 'emb', input: 'hi' }, mode('scope')).withResponse(),
    ],
    [
      'responses',
      () => client.responses.create({ model: 'gpt-4o-mini', input: 'hi' }, mode('scope')).withResponse(),
    ],
    [
      'messages',
      () =>
        client
          .post('/messages', {
            body: { model: 'gpt-4o-mini', max_tokens: 10, messages: hello },
            ...mode('scope'),
          })
          .withResponse(),
    ],
    [
      'rerank',
      () =>
        client
          .post('/rerank', { body: { model: 'rr', query: 'q', documents: ['a'] }, ...mode('scope') })
          .withResponse(),
    ],
  ] as const) {
    test(`${name}: success head carries the scope header; finish once with status 200`, async () => {
      const { response } = await (call as () => Promise<{ response: Response }>)();
      assert.equal(response.headers.get('x-test-scope'), 'yes');
      assert.equal(response.headers.get('x-aisix-call-id'), response.headers.get('x-aisix-request-id'));
      const f = await finishes(1);
      assert.equal(f.length, 1);
      assert.equal(f[0]?.status, 200);
    });
  }

  test('responses stream: tapped and ended', async () => {
    const s = await client.responses.create(
      { model: 'gpt-4o-mini', input: 'hi', stream: true },
      mode('scope'),
    );
    for await (const _ of s);
    assert.ok(log.streamPushes.join('').includes('response.completed'));
    assert.equal(log.streamEnds, 1);
  });
});

describe('what a begin can do', () => {
  test('refuse: answered in the route envelope, no upstream call, finish once with the status', async () => {
    const n = up.requests.length;
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello }, mode('refuse')),
      {
        status: 429,
      },
    );
    const res = await fetch(`${g.base}/v1/messages`, {
      method: 'POST',
      headers: {
        authorization: `Bearer sk-all`,
        'content-type': 'application/json',
        'x-test-mode': 'refuse',
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: hello }),
    });
    assert.equal(res.status, 429);
    assert.deepEqual(await res.json(), {
      type: 'error',
      error: { type: 'rate_limit_error', message: 'refused by test' },
    });
    assert.equal(up.requests.length, n);
    // A refusal opens no scope: nothing to finish.
    assert.equal((await finishes(0)).length, 0);
  });

  test('answer JSON: no upstream call; scope and answer headers; the JSON tap runs on the answer', async () => {
    const n = up.requests.length;
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: hello }, mode('answer-json'))
      .withResponse();
    assert.deepEqual(data, { answer: 'TAPPED!' });
    assert.equal(response.headers.get('x-test-answer'), 'json');
    assert.equal(response.headers.get('x-test-scope'), 'yes');
    assert.equal(up.requests.length, n);
    const f = await finishes(1);
    assert.equal(f[0]?.status, 200);
    assert.equal(f[0]?.usage, undefined);
  });

  test('answer SSE: replayed as an event stream through the stream taps', async () => {
    const res = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer sk-all`,
        'content-type': 'application/json',
        'x-test-mode': 'answer-sse',
      },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: hello, stream: true }),
    });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('x-test-answer'), 'sse');
    assert.equal(await res.text(), 'data: {"a":1}\n\ndata: [DONE]\n\n');
    assert.deepEqual(log.streamPushes, ['data: {"a":1}\n\ndata: [DONE]\n\n']);
    assert.equal(log.streamEnds, 1);
  });

  test('replace the body: the upstream sees the replacement', async () => {
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello }, mode('replace'));
    assert.deepEqual(up.requests.at(-1)?.json?.messages, [{ role: 'user', content: 'REPLACED' }]);
  });

  test('a throwing hook is skipped; the request is served', async () => {
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello }, mode('throw'));
    assert.equal(r.choices[0]?.message.content, 'Hello!');
    assert.equal((await finishes(1)).length, 1);
  });
});

describe('attempt gates', () => {
  test('a refused group member is skipped; the next one serves', async () => {
    const { response } = await client.chat.completions
      .create({ model: 'grp', messages: hello }, mode('gate-first'))
      .withResponse();
    assert.equal(response.headers.get('x-aisix-served-by'), 'm-b');
    assert.deepEqual(log.attempts, ['m-a', 'm-b']);
    assert.deepEqual(log.attemptEnds, [true]);
    assert.equal(up.requests.at(-1)?.json?.model, 'up-b');
  });

  test('every member refused: the last refusal is the answer (its status and headers)', async () => {
    const n = up.requests.length;
    const res = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer sk-all`,
        'content-type': 'application/json',
        'x-test-mode': 'gate-all',
      },
      body: JSON.stringify({ model: 'grp', messages: hello }),
    });
    assert.equal(res.status, 429);
    assert.equal(((await res.json()) as { error: { message: string } }).error.message, 'all over');
    assert.equal(up.requests.length, n);
    assert.equal((await finishes(1))[0]?.status, 429);
  });
});

test('client cancel mid-stream: finish once, cancelled, status 499', async () => {
  await new Promise<void>((resolve, reject) => {
    const req = request(
      `${g.base}/v1/chat/completions`,
      {
        method: 'POST',
        headers: { authorization: `Bearer sk-all`, 'content-type': 'application/json' },
      },
      (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      },
    );
    req.on('error', () => {});
    req.once('error', reject);
    req.end(JSON.stringify({ model: 'gpt-4o-mini', messages: hello, stream: true, max_tokens: 999 }));
  });
  const f = await finishes(1);
  assert.equal(f.length, 1);
  assert.equal(f[0]?.cancelled, true);
  assert.equal(f[0]?.status, 499);
  assert.equal(log.streamEnds, 0);
});

test('compiled once per snapshot; a snapshot it does not apply to pays no begin', async () => {
  const before = log.compiles;
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
  assert.equal(log.compiles, before);
  const other = buildSnapshot(standardDocs(up.url), 2);
  g.source.set(other);
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello });
  assert.equal(log.compiles, before + 1);
  const empty = buildSnapshot({ api_keys: standardDocs(up.url).api_keys ?? {} }, 3);
  g.source.set(empty);
  const begins = log.begins.length;
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o-mini', messages: hello }), {
    status: 404,
  });
  assert.equal(log.begins.length, begins);
});
