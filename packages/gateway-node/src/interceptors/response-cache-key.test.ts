/**
 * What makes two requests the same entry (data-plane §10.3, docs/cache.md "What makes two
 * requests the same"), through a started gateway: every pair below is sent as raw JSON (so key
 * order is what the test writes) and the second answer says whether it was served from the
 * first one's entry. Each case has its own model name, so its first request is always a miss.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CacheRig, cacheHeader, KEY_A, KEY_B, post, startCacheRig } from '../test/cache-rig.js';

let rig: CacheRig;

before(async () => {
  rig = await startCacheRig({ policies: { fp: { name: 'fp' } } }); // all requests, scope api_key
});

after(() => rig.close());

type Body = Record<string, unknown>;
let seq = 0;

interface Side {
  readonly path?: string;
  readonly key?: string;
  readonly body: Body;
}

/** Sends `a` (a miss), then `b`: a hit with `a`'s bytes when `shared`, else a fresh miss. */
async function pair(a: Side, b: Side, shared: boolean, what: string): Promise<void> {
  const n = rig.calls();
  const first = await post(rig.g.base, a.path ?? '/v1/chat/completions', a.body, { key: a.key ?? KEY_A });
  assert.equal(first.status, 200, `${what}: first ${first.text}`);
  assert.equal(cacheHeader(first), 'miss', `${what}: first`);
  const second = await post(rig.g.base, b.path ?? '/v1/chat/completions', b.body, { key: b.key ?? KEY_A });
  assert.equal(second.status, 200, `${what}: second ${second.text}`);
  if (shared) {
    assert.equal(cacheHeader(second), 'hit', `${what}: expected one entry`);
    assert.equal(second.text, first.text, what);
    assert.equal(rig.calls() - n, 1, what);
  } else {
    assert.equal(cacheHeader(second), 'miss', `${what}: expected two entries`);
    assert.notEqual(second.text, first.text, what);
    assert.equal(rig.calls() - n, 2, what);
    // The variant is an entry of its own.
    const again = await post(rig.g.base, b.path ?? '/v1/chat/completions', b.body, { key: b.key ?? KEY_A });
    assert.equal(cacheHeader(again), 'hit', `${what}: variant stored`);
    assert.equal(again.text, second.text, what);
  }
}

/** A chat body on a model of its own; `over` fields replace or add. */
function chatBody(over: Body = {}): Body {
  seq++;
  return { model: `mock/fp-${seq}`, messages: [{ role: 'user', content: 'hello' }], ...over };
}

const same = (body: Body, over: Body): Side => ({ body: { ...body, ...over } });

describe('the fingerprint', () => {
  test('another requested model, another caller key (scope api_key): another entry', async () => {
    const a = chatBody();
    await pair({ body: a }, { body: { ...a, model: `${String(a.model)}-b` } }, false, 'model');
    const k = chatBody();
    await pair({ body: k, key: KEY_A }, { body: k, key: KEY_B }, false, 'caller key');
  });

  test('temperature and top_p count to the thousandth', async () => {
    let b = chatBody({ temperature: 0.7 });
    await pair({ body: b }, same(b, { temperature: 0.71 }), false, 'temperature 0.7 vs 0.71');
    b = chatBody({ temperature: 0.7 });
    await pair({ body: b }, same(b, { temperature: 0.7000001 }), true, 'temperature 0.7 vs 0.7000001');
    b = chatBody({ temperature: 0.7 });
    await pair({ body: b }, same(b, { temperature: 0.701 }), false, 'temperature 0.7 vs 0.701');
    b = chatBody({ top_p: 0.9 });
    await pair({ body: b }, same(b, { top_p: 0.91 }), false, 'top_p 0.9 vs 0.91');
    b = chatBody({ top_p: 0.9 });
    await pair({ body: b }, same(b, { top_p: 0.9000001 }), true, 'top_p 0.9 vs 0.9000001');
    b = chatBody({ temperature: 0.5 });
    await pair({ body: b }, same(b, { temperature: 0.5, top_p: 0.5 }), false, 'top_p added');
  });

  test('max_tokens and every other body field count; object key order does not', async () => {
    let b = chatBody({ max_tokens: 10 });
    await pair({ body: b }, same(b, { max_tokens: 11 }), false, 'max_tokens 10 vs 11');
    b = chatBody();
    await pair({ body: b }, same(b, { max_tokens: 10 }), false, 'max_tokens added');
    b = chatBody();
    await pair({ body: b }, same(b, { user: 'u-1' }), false, 'an extra field');
    b = chatBody({ seed: 1 });
    await pair({ body: b }, same(b, { seed: 2 }), false, 'seed 1 vs 2');
    b = chatBody({ stop: ['a', 'b'] });
    await pair({ body: b }, same(b, { stop: ['b', 'a'] }), false, 'array order');
    const schema = {
      type: 'json_schema',
      json_schema: { name: 'x', schema: { a: 1, b: [1, { c: 2, d: 3 }] } },
    };
    const reordered = {
      json_schema: { schema: { b: [1, { d: 3, c: 2 }], a: 1 }, name: 'x' },
      type: 'json_schema',
    };
    b = chatBody({ response_format: schema });
    await pair({ body: b }, same(b, { response_format: reordered }), true, 'object keys reordered');
    b = chatBody({ response_format: schema });
    const changed = { ...schema, json_schema: { ...schema.json_schema, strict: true } };
    await pair({ body: b }, same(b, { response_format: changed }), false, 'a nested field added');
    b = chatBody();
    await pair({ body: b }, same(b, { stream: false }), true, 'stream false is a JSON request');
  });

  test('messages: content, roles, boundaries, names, parts, count', async () => {
    const m = (...msgs: Body[]) => ({ messages: msgs });
    const u = (content: unknown, extra: Body = {}) => ({ role: 'user', content, ...extra });
    let b = chatBody(m(u('hello')));
    await pair({ body: b }, same(b, m(u('hello!'))), false, 'content');
    b = chatBody(m(u('hello')));
    await pair({ body: b }, same(b, m({ role: 'system', content: 'hello' })), false, 'role');
    b = chatBody(m(u('ab'), u('c')));
    await pair({ body: b }, same(b, m(u('a'), u('bc'))), false, 'message boundaries');
    b = chatBody(m(u('a\nuser: b')));
    await pair({ body: b }, same(b, m(u('a'), u('b'))), false, 'a forged line');
    b = chatBody(m(u('hello')));
    await pair({ body: b }, same(b, m(u('hello'), u('hello'))), false, 'one more message');
    b = chatBody(m(u('hello')));
    await pair({ body: b }, same(b, m(u('hello', { name: 'bob' }))), false, 'a name');
    b = chatBody(m(u('hello')));
    await pair({ body: b }, same(b, m(u([{ type: 'text', text: 'hello' }]))), false, 'parts vs text');
    b = chatBody(m(u([{ type: 'text', text: 'hello' }])));
    await pair({ body: b }, same(b, m(u([{ text: 'hello', type: 'text' }]))), true, 'parts, keys reordered');
    const call = { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } };
    b = chatBody(
      m(
        u('q'),
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: 'c1', content: 'r' },
      ),
    );
    await pair(
      { body: b },
      same(
        b,
        m(
          u('q'),
          { role: 'assistant', content: null, tool_calls: [call] },
          { role: 'tool', tool_call_id: 'c2', content: 'r' },
        ),
      ),
      false,
      'tool_call_id',
    );
  });

  test('the endpoint counts: one body on two endpoints is two entries', async () => {
    seq++;
    const both = {
      model: `mock/fp-ep-${seq}`,
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hello' }],
    };
    await pair({ body: both }, { path: '/v1/messages', body: both }, false, 'chat vs messages');
    const input = { model: `mock/fp-ep2-${seq}`, input: 'hello' };
    await pair(
      { path: '/v1/embeddings', body: input },
      { path: '/v1/responses', body: input },
      false,
      'embeddings vs responses',
    );
  });

  test('a stream and a JSON answer are separate entries, each replayed in its own kind', async () => {
    const b = chatBody();
    const n = rig.calls();
    const j1 = await post(rig.g.base, '/v1/chat/completions', b);
    assert.equal(cacheHeader(j1), 'miss');
    const s1 = await post(rig.g.base, '/v1/chat/completions', { ...b, stream: true });
    assert.equal(cacheHeader(s1), 'miss');
    assert.match(s1.headers.get('content-type') ?? '', /^text\/event-stream/);
    const j2 = await post(rig.g.base, '/v1/chat/completions', b);
    const s2 = await post(rig.g.base, '/v1/chat/completions', { ...b, stream: true });
    assert.equal(cacheHeader(j2), 'hit');
    assert.equal(cacheHeader(s2), 'hit');
    assert.match(j2.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(s2.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(j2.text, j1.text);
    assert.equal(s2.text, s1.text);
    assert.equal(rig.calls() - n, 2);
  });
});
