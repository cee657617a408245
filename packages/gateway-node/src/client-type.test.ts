import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { createClientClassifier } from './client-type.js';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from './test/fixtures.js';
import { chatJson, type MockUpstream, startMockUpstream } from './test/mock-upstream.js';

let up: MockUpstream;
let g: Started;

before(async () => {
  up = await startMockUpstream(chatJson());
  const base = testConfig();
  g = await startTestGateway(
    buildSnapshot(standardDocs(up.url)),
    testConfig({
      observability: {
        metrics: {
          ...base.observability?.metrics,
          client_type_rules: [{ pattern: 'my-app', client: 'my-app' }],
        },
      },
    }),
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('classifier: operator rules first, then the built-in table, else other; empty = unknown', () => {
  const c = createClientClassifier([
    { pattern: 'My-App', client: 'my-app' },
    { pattern: '^acme/(?P<v>\\d+)', client: 'acme' },
  ]);
  assert.equal(c('OpenAI/JS 6.49.0'), 'openai-node');
  assert.equal(c('OpenAI/Python 1.99.0'), 'openai-python');
  assert.equal(c('Anthropic/JS 0.60.0'), 'anthropic-node');
  assert.equal(c('Anthropic/Python 0.60.0'), 'anthropic-python');
  assert.equal(c('claude-cli/1.0.83 (external, cli)'), 'claude-code');
  assert.equal(c('codex_cli_rs/0.20.0 (Linux)'), 'codex');
  assert.equal(c('curl/8.5.0'), 'curl');
  assert.equal(c('litellm/1.74.0'), 'litellm');
  // case-insensitive, unanchored, and ahead of the built-in openai-node
  assert.equal(c('OpenAI/JS 6.49.0 my-APP/2'), 'my-app');
  assert.equal(c('acme/12'), 'acme');
  assert.equal(c('x acme/12'), 'other');
  assert.equal(c('Mozilla/5.0'), 'other');
  assert.equal(c(''), 'unknown');
  assert.equal(c('   '), 'unknown');
  assert.equal(c(undefined), 'unknown');
  // cached answers are the same answers
  assert.equal(c('OpenAI/JS 6.49.0'), 'openai-node');
  for (let i = 0; i < 3000; i++) c(`bot-${i}`);
  assert.equal(c('OpenAI/JS 6.49.0'), 'openai-node');
});

function chatRaw(port: number, headers: Record<string, string>): Promise<number> {
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { ...headers, authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('aisix_llm_tokens_by_client_total: the openai SDK, a configured rule and no User-Agent', async () => {
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
  assert.equal(await chatRaw(g.gw.proxyPort, { 'user-agent': 'my-app/2.0 OpenAI/JS 6' }), 200);
  assert.equal(await chatRaw(g.gw.proxyPort, { 'user-agent': 'my-app/2.0 OpenAI/JS 6' }), 200);
  assert.equal(await chatRaw(g.gw.proxyPort, {}), 200);
  // finishRequest runs on response close
  await new Promise((r) => setTimeout(r, 50));
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  const value = (client_type: string, token_type: string): number | undefined => {
    const m = new RegExp(
      `^aisix_llm_tokens_by_client_total\\{client_type="${client_type}",model="gpt-4o-mini",token_type="${token_type}"\\} (\\d+)$`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : undefined;
  };
  assert.equal(value('openai-node', 'input'), 9, text);
  assert.equal(value('openai-node', 'output'), 3);
  assert.equal(value('openai-node', 'total'), 12);
  assert.equal(value('my-app', 'total'), 24);
  assert.equal(value('unknown', 'input'), 9);
  assert.match(text, /^# TYPE aisix_llm_tokens_by_client_total counter$/m);
});
