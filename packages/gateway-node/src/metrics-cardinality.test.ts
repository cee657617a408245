/**
 * Metric labels stay bounded when a caller picks their value (docs/observability.md "Labels are
 * bounded"): behind a wildcard model the `upstream_model` label is derived from the name the
 * caller sent, so each model alias keeps at most `MAX_UPSTREAM_MODELS_PER_MODEL` distinct values;
 * the rest, and names too long to be a label, are counted under `other`. Nothing is lost: the
 * counts still add up to every request.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { MAX_UPSTREAM_LABEL_CHARS, MAX_UPSTREAM_MODELS_PER_MODEL } from './request-metrics.js';
import { buildSnapshot, CALLER_KEY, type Started, standardDocs, startTestGateway } from './test/fixtures.js';
import { chatJson, type MockUpstream, startMockUpstream, USAGE } from './test/mock-upstream.js';

let up: MockUpstream;
let g: Started;
let client: OpenAI;
const messages = [{ role: 'user' as const, content: 'hello' }];

/** `upstream_model` value → sample value, for the samples of `family` whose labels include `labels`. */
async function byUpstream(family: string, labels: Record<string, string>): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${family}{`)) continue;
    const head = line.slice(0, line.lastIndexOf('}') + 1);
    if (!Object.entries(labels).every(([k, v]) => head.includes(`${k}="${v}"`))) continue;
    const m = /upstream_model="((?:[^"\\]|\\.)*)"/.exec(head);
    assert.ok(m, line);
    out.set(m[1] as string, (out.get(m[1] as string) ?? 0) + Number(line.slice(head.length).trim()));
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

before(async () => {
  up = await startMockUpstream(chatJson('hi'));
  g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('a name too long for a label is counted as `other` and takes no slot', async () => {
  const long = `mock/${'x'.repeat(MAX_UPSTREAM_LABEL_CHARS + 1)}`;
  await client.chat.completions.create({ model: long, messages });
  await client.chat.completions.create({ model: 'mock/short', messages });
  const reqs = await byUpstream('aisix_proxy_requests_total', { model: 'mock/*' });
  assert.deepEqual([...reqs.keys()].sort(), ['other', 'up-short']);
  assert.equal(reqs.get('other'), 1);
  assert.equal(reqs.get('up-short'), 1);
});

test('one wildcard model keeps at most the bound of upstream_model values, the rest under `other`', async () => {
  // `mock/short` already holds one slot: fill the others, then go past the bound.
  for (let i = 1; i < MAX_UPSTREAM_MODELS_PER_MODEL; i++)
    await client.chat.completions.create({ model: `mock/n${i}`, messages });
  const full = await byUpstream('aisix_llm_input_tokens_total', { model: 'mock/*' });
  // Below the bound each name has its own series (metrics-series.test.ts), plus the long name's.
  assert.equal(full.size, MAX_UPSTREAM_MODELS_PER_MODEL + 1);
  assert.equal(full.get(`up-n${MAX_UPSTREAM_MODELS_PER_MODEL - 1}`), USAGE.prompt_tokens);
  assert.equal(full.get('other'), USAGE.prompt_tokens);

  const extra = 25;
  for (let i = 0; i < extra; i++) await client.chat.completions.create({ model: `mock/over${i}`, messages });
  // A name admitted before the bound keeps its series.
  await client.chat.completions.create({ model: 'mock/n1', messages });

  const tokens = await byUpstream('aisix_llm_input_tokens_total', { model: 'mock/*' });
  assert.equal(tokens.size, MAX_UPSTREAM_MODELS_PER_MODEL + 1, 'the series count stopped growing');
  assert.equal(tokens.get('other'), (extra + 1) * USAGE.prompt_tokens);
  assert.equal(tokens.get('up-n1'), 2 * USAGE.prompt_tokens);
  assert.ok(![...tokens.keys()].some((k) => k.startsWith('up-over')));

  const total = MAX_UPSTREAM_MODELS_PER_MODEL + 1 + extra + 1;
  for (const family of ['aisix_proxy_requests_total', 'aisix_llm_requests_total']) {
    const reqs = await byUpstream(family, { model: 'mock/*' });
    assert.equal(reqs.size, MAX_UPSTREAM_MODELS_PER_MODEL + 1, family);
    assert.equal(sum(reqs), total, `${family}: every request is still counted`);
  }
  const durations = await byUpstream('aisix_proxy_request_duration_seconds_count', { model: 'mock/*' });
  assert.equal(durations.size, MAX_UPSTREAM_MODELS_PER_MODEL + 1);
  assert.equal(sum(durations), total);
});

test('the bound is per model alias: another model keeps its own upstream_model', async () => {
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  const reqs = await byUpstream('aisix_proxy_requests_total', { model: 'gpt-4o-mini' });
  assert.deepEqual([...reqs], [['gpt-4o-mini', 1]]);
});
