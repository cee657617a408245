/**
 * `forward_client_headers` (data-plane §5.5): a matching client header reaches the upstream with
 * its first value only, also when the client repeats it (node joins repeats with ", ").
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { buildSnapshot, CALLER_KEY, type Started, standardDocs, startTestGateway } from '../test/fixtures.js';
import { chatJson, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;

before(async () => {
  up = await startMockUpstream(chatJson('hi'));
  const docs = standardDocs(up.url, {
    provider_keys: {
      pkf: {
        display_name: 'forwarding',
        api_key: 'sk-upstream-forwarding',
        provider: 'openai',
        api_base: `${up.url}/v1`,
        request: { forward_client_headers: ['x-cl-*'] },
      },
    },
    models: {
      mf: { display_name: 'mock/fwd', provider: 'openai', model_name: 'fwd', provider_key_id: 'pkf' },
    },
  });
  g = await startTestGateway(buildSnapshot(docs));
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('a repeated client header is forwarded with its first value only', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${CALLER_KEY}`,
        'content-type': 'application/json',
        // An array value sends the header twice.
        'x-cl-trace': ['first', 'second'],
        'x-cl-single': 'a, b',
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ model: 'mock/fwd', messages: [{ role: 'user', content: 'hi' }] }));
  });
  assert.equal(status, 200);
  const seen = up.requests[up.requests.length - 1];
  assert.equal(seen?.headers['x-cl-trace'], 'first');
  // One header whose value holds a comma is one value: forwarded whole.
  assert.equal(seen?.headers['x-cl-single'], 'a, b');
});
