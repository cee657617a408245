/**
 * config.yaml `bedrock_endpoint_url`: `kind: bedrock` guardrails without their own `endpoint`
 * call it (SigV4-signed, checked by the mock), and a guardrail's own `endpoint` still wins.
 * Without the key the regional AWS host would be called (unreachable here: the request would
 * fail closed with 422), so a 200 and the mock's record prove the override is applied.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type CacheRig, cacheDocs, post, startCacheRig } from '../test/cache-rig.js';
import { buildSnapshot, type Docs, testConfig } from '../test/fixtures.js';
import { bedrockGuardrailDoc, bedrockGuardrailVendor } from '../test/mock-bedrock-guardrail.js';
import { chatJson, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

let rig: CacheRig;
let deployment: MockUpstream;
let own: MockUpstream;
let rev = 10;

before(async () => {
  deployment = await startMockUpstream(bedrockGuardrailVendor);
  own = await startMockUpstream(bedrockGuardrailVendor);
  rig = await startCacheRig({ config: testConfig({ bedrock_endpoint_url: `${deployment.url}/` }) });
});

after(async () => {
  await rig.close();
  await deployment.close();
  await own.close();
});

function guard(extra: Record<string, unknown>): void {
  rig.reset();
  rig.up.handle(chatJson('ok'));
  const g = bedrockGuardrailDoc(extra);
  const docs = { ...cacheDocs(rig.up.url, rig.anth.url, {}), guardrails: { r1: g } } as Docs;
  rig.g.source.set(buildSnapshot(docs, ++rev));
}

const chat = (content: string) =>
  post(rig.g.base, '/v1/chat/completions', {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content }],
  });

test('a bedrock guardrail without endpoint calls bedrock_endpoint_url, signed for its region', async () => {
  guard({});
  assert.equal((await chat('hello')).status, 200);
  assert.equal((await chat('a forbidden topic')).status, 422);
  assert.equal(deployment.requests.length, 2);
  assert.equal(own.requests.length, 0);
});

test("the guardrail's own endpoint wins over bedrock_endpoint_url (applied live from the store)", async () => {
  const before = deployment.requests.length;
  guard({ endpoint: own.url });
  assert.equal((await chat('hello again')).status, 200);
  assert.equal(own.requests.length, 1);
  assert.equal(deployment.requests.length, before);
});
