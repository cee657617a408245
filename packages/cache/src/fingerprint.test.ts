/**
 * Cache keys: every input that can change an answer changes the key, nothing else does, and no
 * crafted value can shift a boundary (checked by hand-picked cases and by a randomized property
 * against a reference canonical form). Also the semantic text and partition key.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CacheKeyInput,
  cacheKey,
  LOCAL_KEY_MAX_CHARS,
  localCacheKey,
  scopeKey,
  semanticText,
} from './fingerprint.js';

const base = (over: Partial<CacheKeyInput> = {}, body: Record<string, unknown> = {}): CacheKeyInput => ({
  endpoint: 'chat',
  stream: false,
  model: 'gpt-4o',
  body: { model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }], ...body },
  policy: { id: 'p1', purgeGeneration: 0, scope: 'api_key' },
  apiKeyId: 'k1',
  ...over,
});

const withMessages = (...messages: unknown[]): CacheKeyInput => base({}, { messages });

/** Inputs that differ in one key dimension each: model, caller key, endpoint, stream, policy. */
const keyVariants = (): CacheKeyInput[] => [
  base(),
  base({ model: 'gpt-4o-mini' }),
  base({ apiKeyId: 'k2' }),
  base({ endpoint: 'completions' }),
  base({ endpoint: 'messages' }),
  base({ endpoint: 'responses' }),
  base({ stream: true }),
  base({ policy: { id: 'p2', purgeGeneration: 0, scope: 'api_key' } }),
  base({ policy: { id: 'p1', purgeGeneration: 1, scope: 'api_key' } }),
  base({ policy: { id: 'p1', purgeGeneration: 0, scope: 'env' } }),
];
const emb = { id: 'm-emb', name: 'text-embedding-3-small', dimensions: 1536 };

describe('cacheKey', () => {
  it('is a stable 64-hex SHA-256', () => {
    const k = cacheKey(base());
    assert.match(k, /^[0-9a-f]{64}$/);
    assert.equal(cacheKey(base()), k);
  });

  it('differs across model, key, endpoint, stream, policy, purge generation and scope', () => {
    const variants = keyVariants();
    const keys = new Set(variants.map(cacheKey));
    assert.equal(keys.size, variants.length);
  });

  it('ignores the caller key when scope = env, and the body model/stream fields', () => {
    const env = { id: 'p1', purgeGeneration: 0, scope: 'env' } as const;
    assert.equal(
      cacheKey(base({ policy: env, apiKeyId: 'a' })),
      cacheKey(base({ policy: env, apiKeyId: 'b' })),
    );
    // The requested model and the stream flag come from the input, not from the body copy.
    assert.equal(cacheKey(base({}, { model: 'x', stream: true })), cacheKey(base({}, { model: 'y' })));
  });

  it('quantises temperature and top_p to thousandths; absent is not 0', () => {
    const t = (temperature: unknown) => cacheKey(base({}, { temperature }));
    assert.equal(t(0.7), t(0.7000001));
    assert.equal(t(0.7), t(0.6999999));
    assert.notEqual(t(0.7), t(0.701));
    assert.notEqual(t(0), t(undefined));
    assert.notEqual(t(0), t(null));
    assert.notEqual(t(0.7), t('0.7'));
    assert.equal(t(0), t(-0));
    const p = (top_p: unknown) => cacheKey(base({}, { top_p }));
    assert.equal(p(0.9), p(0.90000004));
    assert.notEqual(p(0.9), p(0.901));
    assert.notEqual(p(0.5), t(0.5), 'temperature and top_p have their own slots');
  });

  it('distinguishes max_tokens and every other field', () => {
    const keys = [
      cacheKey(base()),
      cacheKey(base({}, { max_tokens: 10 })),
      cacheKey(base({}, { max_tokens: 11 })),
      cacheKey(base({}, { max_completion_tokens: 10 })),
      cacheKey(base({}, { n: 2 })),
      cacheKey(base({}, { seed: 1 })),
      cacheKey(base({}, { response_format: { type: 'json_object' } })),
      cacheKey(base({}, { tools: [] })),
      cacheKey(base({}, { stop: ['a', 'b'] })),
      cacheKey(base({}, { stop: ['b', 'a'] })),
      cacheKey(base({}, { stop: 'a' })),
      cacheKey(base({}, { user: '' })),
      cacheKey(base({}, { user: null })),
    ];
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(cacheKey(base({}, { user: undefined })), cacheKey(base()), 'undefined = absent (as JSON)');
  });

  it('ignores object key order, recursively, but not array order', () => {
    const a = base({}, { response_format: { type: 'json_schema', schema: { b: 1, a: [{ y: 1, x: 2 }] } } });
    const b = base({}, { response_format: { schema: { a: [{ x: 2, y: 1 }], b: 1 }, type: 'json_schema' } });
    assert.equal(cacheKey(a), cacheKey(b));
    const top1 = base({}, { seed: 1, n: 1 });
    const top2 = base({}, { n: 1, seed: 1 });
    assert.equal(cacheKey(top1), cacheKey(top2));
    const c = base({}, { response_format: { schema: { a: [{ y: 1 }, { x: 2 }] } } });
    const d = base({}, { response_format: { schema: { a: [{ x: 2 }, { y: 1 }] } } });
    assert.notEqual(cacheKey(c), cacheKey(d));
  });

  it('keeps message boundaries', () => {
    const u = (content: unknown) => ({ role: 'user', content });
    const pairs: [CacheKeyInput, CacheKeyInput][] = [
      [withMessages(u('ab'), u('c')), withMessages(u('a'), u('bc'))],
      [withMessages(u('a'), u('')), withMessages(u('a'))],
      [withMessages({ role: 'user', content: 'x' }), withMessages({ role: 'system', content: 'x' })],
      [withMessages({ role: 'us', content: 'erx' }), withMessages({ role: 'user', content: 'x' })],
      [withMessages(u('hi')), withMessages(u([{ type: 'text', text: 'hi' }]))],
      [withMessages(u('hi')), withMessages({ role: 'user', content: 'hi', name: 'bob' })],
      [
        withMessages({ role: 'tool', content: 'r', tool_call_id: 'a' }),
        withMessages({ role: 'tool', content: 'r', tool_call_id: 'b' }),
      ],
      [withMessages(u('hi')), withMessages({ content: 'hi' })],
      [withMessages(u(null)), withMessages({ role: 'user' })],
      [withMessages(u('x')), base({}, { messages: 'x' })],
      [withMessages(), base({}, { messages: undefined })],
      [withMessages(u('hello')), base({}, { messages: [{ role: 'user', content: 'hello' }], prompt: '' })],
    ];
    for (const [a, b] of pairs) assert.notEqual(cacheKey(a), cacheKey(b), JSON.stringify([a.body, b.body]));
    assert.equal(cacheKey(withMessages(u('hi'))), cacheKey(withMessages({ content: 'hi', role: 'user' })));
  });

  it('cannot be fooled by separator-like content', () => {
    const x = (s: unknown, t: unknown) => cacheKey(base({}, { stop: s, user: t }));
    assert.notEqual(x('s1:a', 'b'), x('s1:', 'ab'));
    assert.notEqual(x('a', 's1:b'), x('as1:', 'b'));
    const m = (...c: string[]) => withMessages(...c.map((content) => ({ role: 'user', content })));
    assert.notEqual(cacheKey(m('a"t"s1:b')), cacheKey(m('a', 'b')));
    assert.notEqual(cacheKey(m('ms4:usert1:a')), cacheKey(m('', 'a')));
    // A model or key id that spells the next field.
    assert.notEqual(
      cacheKey(base({ model: 'ab' }, {})),
      cacheKey(base({ model: 'a' }, { temperature: 'b' })),
    );
    assert.notEqual(cacheKey(base({ apiKeyId: 'k1M1:' })), cacheKey(base({ apiKeyId: 'k1' })));
  });

  it('distinguishes a lone surrogate from U+FFFD and from its pair', () => {
    const k = (content: string) => cacheKey(withMessages({ role: 'user', content }));
    assert.notEqual(k('\ud800'), k('\ufffd'));
    assert.notEqual(k('\ud83d'), k('\ud83d\udc4b'));
    assert.equal(k('\ud83d\udc4b'), k('👋'));
  });

  it('handles non-chat bodies through the field rule', () => {
    const e = (body: Record<string, unknown>) =>
      cacheKey({ ...base({ endpoint: 'embeddings' }), body: { model: 'emb', ...body } });
    assert.notEqual(e({ input: 'a' }), e({ input: ['a'] }));
    assert.notEqual(e({ input: ['a', 'b'] }), e({ input: ['ab'] }));
    assert.notEqual(e({ input: 'a' }), e({ input: 'a', dimensions: 256 }));
    const r = (body: Record<string, unknown>) =>
      cacheKey({ ...base({ endpoint: 'messages' }), body: { model: 'claude', ...body } });
    assert.notEqual(
      r({ system: 's', messages: [{ role: 'user', content: 'x' }] }),
      r({ messages: [{ role: 'user', content: 'x' }] }),
    );
  });

  it('hashes large bodies and refuses absurd nesting', () => {
    const big = 'lorem ipsum '.repeat(20_000);
    const a = cacheKey(withMessages({ role: 'user', content: big }));
    const b = cacheKey(withMessages({ role: 'user', content: `${big}.` }));
    assert.notEqual(a, b);
    let deep: unknown = 1;
    for (let i = 0; i < 1000; i++) deep = [deep];
    assert.throws(() => cacheKey(base({}, { metadata: deep })), RangeError);
  });

  it('property: equal keys exactly when the canonical inputs are equal (randomized)', () => {
    // Reference canonical form: JSON with sorted keys, sampling params quantised, the caller
    // key dropped for scope env. A small alphabet makes both collisions of the canonical form
    // (must share a key) and near-misses (must not) frequent.
    let seed = 42;
    const rnd = (n: number) => {
      // mulberry32: tiny, seeded, good enough low bits (an LCG's repeat quickly under `% n`).
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const atoms: unknown[] = ['', 'a', 'b', 'ab', 's1:a', ':', '1:', 't', 0, 1, true, null];
    const gen = (depth: number): unknown => {
      const r = rnd(depth > 1 ? 10 : 14);
      if (r < 10) return atoms[rnd(atoms.length)];
      if (r < 12) return Array.from({ length: rnd(3) }, () => gen(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = rnd(3); i > 0; i--) o[['a', 'b', 'ab'][rnd(3)]!] = gen(depth + 1);
      return o;
    };
    const sorted = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(sorted)
        : typeof v === 'object' && v !== null
          ? Object.fromEntries(
              Object.keys(v)
                .sort()
                .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
            )
          : v;
    const q = (v: unknown) => (typeof v === 'number' ? `q${Math.round(v * 1000)}` : v);
    const canonical = (i: CacheKeyInput) =>
      JSON.stringify(
        sorted({
          ...i,
          apiKeyId: i.policy.scope === 'env' ? null : i.apiKeyId,
          body: { ...i.body, model: null, temperature: q(i.body.temperature), top_p: q(i.body.top_p) },
        }),
      );
    const seen = new Map<string, string>();
    const byKey = new Map<string, string>();
    const seenLocal = new Map<string, string>();
    const byLocal = new Map<string, string>();
    for (let n = 0; n < 4000; n++) {
      const body: Record<string, unknown> = { model: 'x' };
      if (rnd(2)) body.temperature = [0.5, 0.5001, 0.501, 0][rnd(4)];
      if (rnd(3) === 0) body[['user', 'stop', 'a'][rnd(3)]!] = gen(1);
      const msgs: unknown[] = [];
      for (let i = rnd(3); i > 0; i--) {
        const m: Record<string, unknown> = { role: ['user', 'u'][rnd(2)], content: gen(2) };
        if (rnd(5) === 0) m.name = atoms[rnd(4)];
        msgs.push(m);
      }
      body.messages = msgs;
      const input = base(
        {
          model: ['m', 'mm'][rnd(2)]!,
          apiKeyId: ['k', 'kk'][rnd(2)]!,
          stream: rnd(2) === 0,
          policy: { id: 'p', purgeGeneration: rnd(2), scope: rnd(2) ? 'env' : 'api_key' },
        },
        {},
      );
      const full = { ...input, body };
      const c = canonical(full);
      const k = cacheKey(full);
      const prevKey = seen.get(c);
      if (prevKey !== undefined) assert.equal(k, prevKey, `same canonical input, different key: ${c}`);
      const prevCanon = byKey.get(k);
      if (prevCanon !== undefined) assert.equal(c, prevCanon, 'collision');
      seen.set(c, k);
      byKey.set(k, c);
      // The in-process key (the serialization itself when short) obeys the same rule.
      const l = localCacheKey(full);
      const prevLocal = seenLocal.get(c);
      if (prevLocal !== undefined)
        assert.equal(l, prevLocal, `same canonical input, different local key: ${c}`);
      const prevLocalCanon = byLocal.get(l);
      if (prevLocalCanon !== undefined) assert.equal(c, prevLocalCanon, 'local key collision');
      seenLocal.set(c, l);
      byLocal.set(l, c);
    }
    assert.ok(seen.size > 1000, `enough distinct inputs (${seen.size})`);
    assert.ok(seen.size < 4000, 'some repeated canonical inputs');
  });
});

describe('localCacheKey', () => {
  it('is the serialization itself when short: deterministic, never a digest', () => {
    const k = localCacheKey(base());
    assert.equal(localCacheKey(base()), k);
    assert.ok(k.length <= LOCAL_KEY_MAX_CHARS);
    assert.doesNotMatch(k, /^[0-9a-f]{64}$/);
    assert.ok(k.startsWith('s17:aisix-cache-key/1'), k);
    assert.notEqual(k, cacheKey(base()));
  });

  it('is the SHA-256 key once the serialization is longer than the limit', () => {
    const long = withMessages({ role: 'user', content: 'x'.repeat(LOCAL_KEY_MAX_CHARS) });
    assert.equal(localCacheKey(long), cacheKey(long));
    const big = withMessages({ role: 'user', content: 'lorem ipsum '.repeat(20_000) });
    assert.equal(localCacheKey(big), cacheKey(big));
  });

  it('differs wherever cacheKey differs, near the length limit too', () => {
    const variants = [...keyVariants(), base({}, { temperature: 0.7 })];
    // Contents whose serializations end around the limit: some kept as text, some hashed.
    const short = localCacheKey(withMessages({ role: 'user', content: '' })).length;
    for (let extra = -2; extra <= 2; extra++)
      variants.push(withMessages({ role: 'user', content: 'y'.repeat(LOCAL_KEY_MAX_CHARS - short + extra) }));
    const keys = new Set(variants.map(localCacheKey));
    assert.equal(keys.size, variants.length);
    assert.ok(variants.some((v) => /^[0-9a-f]{64}$/.test(localCacheKey(v))));
    assert.ok(variants.some((v) => !/^[0-9a-f]{64}$/.test(localCacheKey(v))));
  });
});

describe('scopeKey', () => {
  it('ignores the messages but nothing else', () => {
    const a = scopeKey(withMessages({ role: 'user', content: 'a' }), emb);
    assert.equal(a, scopeKey(withMessages({ role: 'user', content: 'b' }), emb));
    assert.notEqual(a, scopeKey(base({ model: 'other' }), emb));
    assert.notEqual(a, scopeKey(base({}, { temperature: 0.2 }), emb));
    assert.notEqual(a, scopeKey(base({ apiKeyId: 'k2' }), emb));
    assert.notEqual(a, scopeKey(base({ stream: true }), emb));
    assert.notEqual(a, scopeKey(base({ policy: { id: 'p1', purgeGeneration: 9, scope: 'api_key' } }), emb));
  });

  it('includes the embedding model identity and never equals a cache key', () => {
    const a = scopeKey(base(), emb);
    assert.notEqual(a, scopeKey(base(), { ...emb, id: 'other' }));
    assert.notEqual(a, scopeKey(base(), { ...emb, name: 'text-embedding-3-large' }));
    assert.notEqual(a, scopeKey(base(), { ...emb, dimensions: 256 }));
    assert.notEqual(a, scopeKey(base(), { id: emb.id, name: emb.name }));
    assert.notEqual(a, cacheKey(base()));
  });
});

describe('semanticText', () => {
  it('renders one escaped role: content line per message', () => {
    const text = semanticText({
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'line1\nline2\r\\n literal' },
      ],
    });
    assert.equal(text, 'system: be brief\nuser: line1\\nline2\\r\\\\n literal');
  });

  it('cannot forge a line', () => {
    const forged = semanticText({ messages: [{ role: 'user', content: 'x\nassistant: y' }] });
    const real = semanticText({
      messages: [
        { role: 'user', content: 'x' },
        { role: 'assistant', content: 'y' },
      ],
    });
    assert.notEqual(forged, real);
    assert.equal(forged?.split('\n').length, 1);
  });

  it('is undefined unless every message is plain text', () => {
    assert.equal(semanticText({}), undefined);
    assert.equal(semanticText({ messages: [] }), undefined);
    assert.equal(semanticText({ messages: 'hi' }), undefined);
    assert.equal(
      semanticText({ messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }),
      undefined,
    );
    assert.equal(semanticText({ messages: [{ role: 'user', content: 'hi', name: 'bob' }] }), undefined);
    assert.equal(
      semanticText({
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'tool', content: 'r', tool_call_id: 'c' },
        ],
      }),
      undefined,
    );
    assert.equal(
      semanticText({ messages: [{ role: 'assistant', content: null, tool_calls: [] }] }),
      undefined,
    );
    assert.equal(semanticText({ messages: [null] }), undefined);
    assert.equal(semanticText({ messages: [{ role: 'user', content: 'hi', name: undefined }] }), 'user: hi');
  });
});
