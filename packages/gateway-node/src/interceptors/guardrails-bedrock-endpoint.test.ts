/**
 * config.yaml `bedrock_endpoint_url`: `kind: bedrock` guardrails without their own `endpoint`
 * call it (SigV4-signed, checked by the mock), and a guardrail's own `endpoint` still wins.
 * Without the key the regional AWS host would be called (unreachable here: the request would
 * fail closed with 422), so a 200 and the mock's record prove the override is applied.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { signV4 } from '../guardrails/remote/sigv4.js';
import { type CacheRig, cacheDocs, post, startCacheRig } from '../test/cache-rig.js';
import { buildSnapshot, type Docs, testConfig } from '../test/fixtures.js';
import {
  chatJson,
  json,
  type MockBehaviour,
  type MockUpstream,
  type SeenRequest,
  startMockUpstream,
} from '../test/mock-upstream.js';

const AWS = { access_key_id: 'AKIDEXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

let rig: CacheRig;
let deployment: MockUpstream;
let own: MockUpstream;
let rev = 10;

/** The signature the mock recomputes from the request as received. */
function signatureOk(req: SeenRequest): boolean {
  const date = String(req.headers['x-amz-date'] ?? '');
  if (date === '') return false;
  const expected = signV4({
    method: 'POST',
    url: new URL(`http://${req.headers.host}${req.url}`),
    region: 'eu-west-1',
    service: 'bedrock',
    accessKeyId: AWS.access_key_id,
    secretAccessKey: AWS.secret_access_key,
    headers: { 'content-type': String(req.headers['content-type']) },
    body: req.body,
    now: new Date(
      `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 11)}:${date.slice(11, 13)}:${date.slice(13, 15)}Z`,
    ),
  });
  return expected.authorization === req.headers.authorization;
}

const bedrockVendor: MockBehaviour = (req, res) => {
  if (req.url !== '/guardrail/gr-9/version/1/apply' || !signatureOk(req))
    return json(res, 403, { message: 'The request signature we calculated does not match' });
  const content = (req.json?.content ?? []) as { text: { text: string } }[];
  if (String(content[0]?.text.text).includes('forbidden'))
    return json(res, 200, {
      action: 'GUARDRAIL_INTERVENED',
      assessments: [{ topicPolicy: { topics: [{ name: 'X', type: 'DENY', action: 'BLOCKED' }] } }],
    });
  json(res, 200, { action: 'NONE', outputs: [], assessments: [] });
};

before(async () => {
  deployment = await startMockUpstream(bedrockVendor);
  own = await startMockUpstream(bedrockVendor);
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
  const g = {
    name: 'bed',
    kind: 'bedrock',
    region: 'eu-west-1',
    guardrail_id: 'gr-9',
    guardrail_version: '1',
    aws_credentials: { kind: 'static', ...AWS },
    latency_mode: { kind: 'serial' },
    fail_open: false,
    hook_point: 'input',
    ...extra,
  };
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
