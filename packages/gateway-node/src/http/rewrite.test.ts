import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { chatJson, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import { compileUrlRewrites } from './rewrite.js';

let up: MockUpstream;
let g: Started;

const RULES = [
  // Rust-style named group, as configs written for the reference use.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a rewrite template, not JS
  { name: 'probe', match: '^/probe/(?P<what>live|ready)$', rewrite: '/${what}z' },
  { name: 'probe-other', match: '^/probe/', rewrite: '/v1/models' },
  { name: 'openai-prefix', match: '^/openai(/v1/.*)$', rewrite: '$1' },
  // Rust-syntax inline flag and anchors, as reference configs write them.
  { name: 'rust-syntax', match: '(?i)\\A/Azure(/v1/[a-z/]+)\\z', rewrite: '$1' },
  // Would turn /livez into a 404 if rules cascaded after the first rewrite.
  { name: 'no-cascade', match: '^/livez$', rewrite: '/nowhere' },
];

before(async () => {
  up = await startMockUpstream(chatJson('rewritten'));
  g = await startTestGateway(
    buildSnapshot(standardDocs(up.url)),
    testConfig({ proxy: { addr: '127.0.0.1:0', url_rewrites: RULES } }),
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('url_rewrites: the openai SDK with baseURL /openai/v1 reaches /v1/chat/completions', async () => {
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/openai/v1`, maxRetries: 0 });
  const r = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(r.choices[0]?.message.content, 'rewritten');
  assert.equal(up.requests.at(-1)?.url, '/v1/chat/completions');
});

test('url_rewrites: a Rust-syntax rule ((?i), \\A, \\z) routes /AZURE/v1/embeddings', async () => {
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/AZURE/v1`, maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(up.requests.at(-1)?.url, '/v1/chat/completions');
});

test('url_rewrites: query string kept, first match wins, no cascading', async () => {
  // rule 1 matches (and rule 2 would too); the rewritten /livez is not rewritten again by rule 4
  const live = await fetch(`${g.base}/probe/live?verbose`);
  assert.equal(live.status, 200);
  assert.equal(await live.text(), '[+]ping ok\n[+]shutdown ok\nlivez check passed');
  const plain = await fetch(`${g.base}/probe/live`);
  assert.equal(await plain.text(), 'ok');
  const ready = await fetch(`${g.base}/probe/ready?verbose=1`);
  assert.equal(await ready.text(), '[+]shutdown ok\n[+]config ok\nreadyz check passed');
  // rule 2 (the leftmost match is replaced, the rest of the path kept): /probe/x -> /v1/modelsx
  assert.equal((await fetch(`${g.base}/probe/x`)).status, 404);
  // a path a rule rewrites away
  assert.equal((await fetch(`${g.base}/livez`)).status, 404);
  // a path no rule matches is untouched
  assert.equal((await fetch(`${g.base}/readyz`)).status, 200);
});

test('url_rewrites: without rules the path is routed unchanged', async () => {
  const plain = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  try {
    const r = await fetch(`${plain.base}/openai/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(r.status, 404);
    assert.equal((await fetch(`${plain.base}/livez?verbose`)).status, 200);
  } finally {
    await plain.gw.close();
  }
});

test('compileUrlRewrites: no rules = no rewriter; leftmost match replaced once; groups expand', () => {
  assert.equal(compileUrlRewrites([]), undefined);
  assert.equal(compileUrlRewrites(undefined), undefined);
  const rw = compileUrlRewrites([
    { match: '/api/', rewrite: '/v1/' },
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a rewrite template, not JS
    { match: '^/(?<a>x)(y)?/(\\d+)$', rewrite: '/${a}-$2-$3$$' },
  ]);
  assert.ok(rw);
  assert.equal(rw('/api/api/models'), '/v1/api/models');
  assert.equal(rw('/pre/api/x'), '/pre/v1/x');
  assert.equal(rw('/x/42'), '/x--42$');
  assert.equal(rw('/xy/7'), '/x-y-7$');
  assert.equal(rw('/v1/models'), '/v1/models');
  assert.equal(rw('/a%2Fb'), '/a%2Fb');
});

test('compileUrlRewrites: Rust regex syntax means what it means in the reference', () => {
  const rw = compileUrlRewrites([
    // \A and \z are whole-input anchors (in a JS regex they would be the letters A and z)
    { match: '\\A/api/(.*)\\z', rewrite: '/v1/$1' },
    // leading inline flags
    { match: '(?i)^/OLD/', rewrite: '/v1/' },
    { match: '(?s)^/dot/(.)$', rewrite: '/v1/$1' },
    // an escaped backslash before A is a literal backslash, not an anchor
    { match: '^/lit\\\\A$', rewrite: '/v1/lit' },
    // (?P<n>) inside a character class or after an escape is not a group
    { match: '^/cls/[(?P<]+$', rewrite: '/v1/cls' },
  ]);
  assert.ok(rw);
  assert.equal(rw('/api/models'), '/v1/models');
  assert.equal(rw('A/api/models'), 'A/api/models');
  assert.equal(rw('/api/modelsz'), '/v1/modelsz');
  assert.equal(rw('/old/models'), '/v1/models');
  assert.equal(rw('/Old/models'), '/v1/models');
  assert.equal(rw('/dot/\n'), '/v1/\n');
  assert.equal(rw('/lit\\A'), '/v1/lit');
  assert.equal(rw('/cls/P<('), '/v1/cls');
});
