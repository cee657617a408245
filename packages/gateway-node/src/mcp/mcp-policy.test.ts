import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildSnapshot, type Docs, type Started, sha256, startTestGateway } from '../test/fixtures.js';
import { connectMcp } from '../test/mcp-client.js';
import { type MockMcp, startMockMcp } from '../test/mock-mcp.js';

interface McpDocs extends Docs {
  readonly mcp_servers: Record<string, Record<string, unknown>>;
  readonly mcp_policies: Record<string, Record<string, unknown>>;
}

let alpha: MockMcp;
let beta: MockMcp;
let g: Started;
let docs: McpDocs;
let revision = 1;

const key = (plain: string, extra: Record<string, unknown> = {}) => ({
  key_hash: sha256(plain),
  allowed_models: [],
  ...extra,
});

// The example of agents-and-jobs §2.6.
const ENV = { mode: 'selected', scope: 'env', allow: ['alpha__*'], deny: ['beta__reverse'] };
const T1 = { mode: 'selected', scope: 'team', scope_ref: 'T1', allow: ['beta__*'] };
const T2 = { mode: 'all', scope: 'team', scope_ref: 'T2' };

function apply(next: McpDocs): void {
  docs = next;
  revision += 1;
  g.source.set(buildSnapshot(docs, revision));
}

async function visible(token: string): Promise<string[]> {
  const c = await connectMcp(`${g.base}/mcp`, token, 'policy-test');
  const names = (await c.listTools()).tools.map((t) => t.name).sort();
  // tools/call hides exactly what tools/list hides.
  for (const n of ['alpha__echo', 'alpha__reverse', 'beta__echo', 'beta__reverse']) {
    try {
      await c.callTool({ name: n, arguments: { text: 'x' } });
      assert.ok(names.includes(n), `${token}: ${n} callable but not listed`);
    } catch (e) {
      assert.ok(!names.includes(n), `${token}: ${n} listed but refused`);
      assert.match((e as Error).message, new RegExp(`tool '${n}' is not available|unknown MCP server`));
    }
  }
  await c.close();
  return names;
}

before(async () => {
  alpha = await startMockMcp('alpha');
  beta = await startMockMcp('beta');
  docs = {
    mcp_servers: { s1: { name: 'alpha', url: alpha.url }, s2: { name: 'beta', url: beta.url } },
    mcp_policies: { env: ENV, t1: T1, t2: T2 },
    api_keys: {
      legacy: key('sk-legacy', { allowed_tools: ['alpha__*'] }),
      wild: key('sk-wild', { allowed_tools: ['*'] }),
      inh: key('sk-inherit', { mcp_access: { mode: 'inherit' } }),
      inh1: key('sk-inherit-t1', { team_id: 'T1', mcp_access: { mode: 'inherit' } }),
      inh2: key('sk-inherit-t2', { team_id: 'T2', mcp_access: { mode: 'inherit' } }),
      res: key('sk-restrict', {
        team_id: 'T2',
        mcp_access: { mode: 'restrict', allow: ['alpha__*'], deny: ['alpha__reverse'] },
      }),
      deny: key('sk-deny', { allowed_tools: ['*'], mcp_access: { mode: 'deny' } }),
    },
  };
  g = await startTestGateway(buildSnapshot(docs, revision));
});

after(async () => {
  await g.gw.close();
  await alpha.close();
  await beta.close();
});

test('policy table of §2.6: list and call agree for every kind of key', async () => {
  assert.deepEqual(await visible('sk-legacy'), ['alpha__echo', 'alpha__reverse']);
  assert.deepEqual(await visible('sk-wild'), ['alpha__echo', 'alpha__reverse', 'beta__echo']);
  assert.deepEqual(await visible('sk-inherit'), ['alpha__echo', 'alpha__reverse']);
  assert.deepEqual(await visible('sk-inherit-t1'), ['beta__echo']);
  assert.deepEqual(await visible('sk-inherit-t2'), ['alpha__echo', 'alpha__reverse', 'beta__echo']);
  assert.deepEqual(await visible('sk-restrict'), ['alpha__echo']);
  assert.deepEqual(await visible('sk-deny'), []);
});

test('policy edits apply on the next request: team set to none, env policy deleted, policy disabled', async () => {
  apply({ ...docs, mcp_policies: { ...docs.mcp_policies, t1: { ...T1, mode: 'none' } } });
  assert.deepEqual(await visible('sk-inherit-t1'), []);
  const { env: _env, ...rest } = docs.mcp_policies;
  apply({ ...docs, mcp_policies: rest });
  assert.deepEqual(await visible('sk-wild'), [
    'alpha__echo',
    'alpha__reverse',
    'beta__echo',
    'beta__reverse',
  ]);
  assert.deepEqual(await visible('sk-inherit'), []);
  apply({ ...docs, mcp_policies: { ...rest, env: { ...ENV, enabled: false } } });
  assert.deepEqual(await visible('sk-wild'), [
    'alpha__echo',
    'alpha__reverse',
    'beta__echo',
    'beta__reverse',
  ]);
});

test('server edits apply on the next request: disabled servers vanish, new ones appear', async () => {
  apply({ ...docs, mcp_servers: { s1: docs.mcp_servers.s1 as Record<string, unknown> } });
  assert.deepEqual(await visible('sk-wild'), ['alpha__echo', 'alpha__reverse']);
  apply({
    ...docs,
    mcp_servers: {
      ...docs.mcp_servers,
      s2: { name: 'beta', url: beta.url },
      s1: { name: 'alpha', url: alpha.url, enabled: false },
    },
  });
  assert.deepEqual(await visible('sk-wild'), ['beta__echo', 'beta__reverse']);
});
