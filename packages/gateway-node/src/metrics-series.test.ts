/**
 * Consecutive requests that differ in one label value land in their own series: the request
 * metrics reuse the previous request's series when its labels are the same, and must never do
 * so when any of them differs (upstream model behind one wildcard model, stream flag, status).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { buildSnapshot, CALLER_KEY, type Started, standardDocs, startTestGateway } from './test/fixtures.js';
import { chatJson, type MockUpstream, startMockUpstream, USAGE } from './test/mock-upstream.js';

let up: MockUpstream;
let g: Started;
let exposition = '';

/** The value of the sample of `family` whose labels include all of `labels`. */
function sample(family: string, labels: Record<string, string>): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${family}{`)) continue;
    const head = line.slice(0, line.lastIndexOf('}') + 1);
    if (Object.entries(labels).every(([k, v]) => head.includes(`${k}="${v}"`)))
      return Number(line.slice(head.length).trim());
  }
  return undefined;
}

before(async () => {
  up = await startMockUpstream(chatJson('hi'));
  g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: 'hello' }];
  // `mock/*` serves `up-<name>`: one model resource, two upstream models.
  for (const model of ['gpt-4o-mini', 'mock/a', 'mock/b', 'mock/b', 'gpt-4o-mini', 'mock/a', 'gpt-4o-mini'])
    await client.chat.completions.create({ model, messages });
  await client.chat.completions.create({ model: 'nope', messages }).catch(() => undefined);
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  exposition = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('each upstream model behind one wildcard model keeps its own token series', () => {
  const tokens = (labels: Record<string, string>) => sample('aisix_llm_input_tokens_total', labels);
  assert.equal(tokens({ model: 'gpt-4o-mini', upstream_model: 'gpt-4o-mini' }), 4 * USAGE.prompt_tokens);
  assert.equal(tokens({ model: 'mock/*', upstream_model: 'up-a' }), 2 * USAGE.prompt_tokens);
  assert.equal(tokens({ model: 'mock/*', upstream_model: 'up-b' }), 2 * USAGE.prompt_tokens);
});

test('a failed request between two successes is counted under its own status', () => {
  const requests = (labels: Record<string, string>) => sample('aisix_requests_total', labels);
  assert.equal(requests({ model: 'gpt-4o-mini', status: '200' }), 4);
  assert.equal(requests({ model: 'unresolved' }), 1);
  assert.equal(requests({ model: 'mock/*', status: '200' }), 4);
});
