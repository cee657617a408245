/**
 * Credential isolation across every adapter, under the most permissive header pipeline: every
 * provider key forwards all client headers (`forward_client_headers: ['*']`) and tries to set
 * credential headers from `default_headers`. The caller sends its key in every credential header
 * any provider uses, plus cookies, proxy credentials, AWS signing headers and `x-aisix-*` headers.
 * Each mock must receive exactly its own provider credential (Bearer for OpenAI, x-api-key for
 * Anthropic, x-goog-api-key for Google AI, api-key for Azure, a SigV4 signature that verifies for
 * Bedrock, a minted OAuth Bearer for Vertex), nothing of the caller's, no other provider's secret
 * and no inbound `x-aisix-*` header; a harmless custom header does get through (so the pipeline
 * really forwarded, and the absence of the rest means something).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Recorded } from '../fixtures/mock-server.js';
import { PROMPT } from '../fixtures/scenario.js';
import { DIALECTS, type Dialect } from './dialects.js';
import { CALLER_KEY, FAMILIES, type Family, foreignSecrets, VERTEX } from './upstreams.js';
import { startWorld, type World } from './world.js';

let world: World;

before(async () => {
  world = await startWorld({
    pkExtra: {
      request: {
        forward_client_headers: ['*'],
        default_headers: {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a default_headers template variable
          'x-operator-tag': 'pk-${provider_key.name}',
          authorization: 'Bearer operator-template-override',
          'x-api-key': 'operator-template-override',
          'x-goog-api-key': 'operator-template-override',
          'api-key': 'operator-template-override',
        },
      },
    },
  });
});

after(async () => {
  await world?.close();
});

const HOSTILE: Record<string, string> = {
  authorization: `Bearer ${CALLER_KEY}`,
  'x-api-key': CALLER_KEY,
  'x-goog-api-key': CALLER_KEY,
  'api-key': CALLER_KEY,
  'x-amz-security-token': CALLER_KEY,
  'x-amz-date': '20000101T000000Z',
  'x-amz-content-sha256': 'caller-chosen-hash',
  cookie: `session=${CALLER_KEY}`,
  'proxy-authorization': `Basic ${CALLER_KEY}`,
  'x-aisix-request-id': 'caller-chosen-request-id',
  'x-aisix-debug': 'caller-probe-value',
  'x-stainless-helper': 'caller-probe-value',
  'x-custom-trace': 'trace-4711',
};

const BODIES: Record<Dialect['id'], { path: string; body: (alias: string, stream: boolean) => unknown }> = {
  'openai-chat': {
    path: '/v1/chat/completions',
    body: (model, stream) => ({
      model,
      stream,
      max_tokens: 32,
      messages: [{ role: 'user', content: PROMPT }],
    }),
  },
  'anthropic-messages': {
    path: '/v1/messages',
    body: (model, stream) => ({
      model,
      stream,
      max_tokens: 32,
      messages: [{ role: 'user', content: PROMPT }],
    }),
  },
  'openai-responses': {
    path: '/v1/responses',
    body: (model, stream) => ({ model, stream, max_output_tokens: 32, input: PROMPT }),
  },
};

function assertOwnCredentialOnly(f: Family, r: Recorded): void {
  f.assertCredential(r, world.authority.minted);
  const all = `${JSON.stringify(r.headers)}\n${r.url}\n${r.body}`;
  for (const s of foreignSecrets(f.id)) {
    assert.ok(!all.includes(s), `${f.id} upstream received a foreign secret (${s.slice(0, 12)}…)`);
  }
  assert.ok(!all.includes('operator-template-override'), 'default_headers overrode a credential header');
  assert.ok(!all.includes('caller-probe-value'), 'an x-aisix-* / x-stainless-* header was forwarded');
  assert.ok(!all.includes('caller-chosen'), 'a caller-chosen request id / signing header was forwarded');
  assert.equal(r.headers.cookie, undefined, 'cookie forwarded');
  assert.equal(r.headers['proxy-authorization'], undefined, 'proxy-authorization forwarded');
  for (const h of Object.keys(r.headers)) {
    if (h.startsWith('x-aisix-')) assert.equal(h, 'x-aisix-request-id', `inbound header ${h} forwarded`);
  }
  if (f.id !== 'bedrock') {
    for (const h of ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']) {
      assert.equal(r.headers[h], undefined, `${h} reached a non-AWS upstream`);
    }
  }
  // Positive controls: the permissive pipeline is really active on this adapter.
  assert.equal(
    r.headers['x-custom-trace'],
    'trace-4711',
    'forward_client_headers ["*"] forwards ordinary headers',
  );
  assert.equal(r.headers['x-operator-tag'], `pk-${f.alias}`, 'default_headers templates are applied');
}

for (const d of DIALECTS) {
  for (const f of FAMILIES) {
    for (const stream of [false, true]) {
      test(`credentials: ${d.id} × ${f.id} × ${stream ? 'stream' : 'json'}`, async () => {
        world.set({ kind: 'ok', step: 'text' }, d.id);
        const mock = world.mocks.get(f.id);
        assert.ok(mock);
        const from = mock.requests.length;
        const tokenFrom = world.tokens.requests.length;
        const spec = BODIES[d.id];
        const res = await fetch(`${world.base}${spec.path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...HOSTILE },
          body: JSON.stringify(spec.body(f.alias, stream)),
        });
        const text = await res.text();
        assert.equal(res.status, 200, text.slice(0, 500));
        const seen = mock.requests.slice(from);
        assert.equal(seen.length, 1, 'one upstream call');
        assertOwnCredentialOnly(f, seen[0] as Recorded);
        // The OAuth token endpoint (Vertex only) sees a signed assertion and nothing of the caller.
        for (const t of world.tokens.requests.slice(tokenFrom)) {
          assert.equal(f.id, 'vertex', 'only the Vertex adapter talks to the token endpoint');
          const all = `${JSON.stringify(t.headers)}\n${t.body}`;
          assert.ok(
            !all.includes(CALLER_KEY) && !all.includes('caller-'),
            'caller data reached the token endpoint',
          );
          assert.equal(t.headers.authorization, undefined);
          const form = new URLSearchParams(t.body);
          assert.deepEqual([...form.keys()].sort(), ['assertion', 'grant_type']);
          const claims = JSON.parse(
            Buffer.from((form.get('assertion') ?? '').split('.')[1] ?? '', 'base64url').toString(),
          );
          assert.equal(claims.iss, VERTEX.clientEmail);
        }
      });
    }
  }
}

test('credentials: the Vertex token endpoint minted a token and rejected nothing', () => {
  assert.ok(world.authority.minted.size >= 1);
  assert.equal(world.authority.rejected, 0);
});
