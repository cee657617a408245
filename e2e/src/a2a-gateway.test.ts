/**
 * The A2A gateway from the store (issue 12): agents and keys written through the Admin API to
 * real etcd reach a real `--role all` process live. Agents and clients are the official
 * `@a2a-js/sdk` (1.3.0) server and client, over both protocol versions (1.0 natively, 0.3
 * through the SDK's compatibility layer, each agent pinned to its version in the store).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TaskState } from '@a2a-js/sdk';
import { testEtcd } from '@aisix/testkit';
import { type AgentServer, gatewayClient, STREAM_GAP_MS, startAgent, userMessage } from './a2a-agents.js';
import {
  AdminClient,
  type AisixProcess,
  httpGet,
  httpSend,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

const PREFIX = '/v3/agents/serve/tenant-42';
const BEARER = 'agent-bearer-secret-1';
const API_KEY = 'agent-api-key-secret-2';

describe('A2A gateway through the Admin API and etcd', () => {
  const dir = tempDir('a2a');
  let helper: AgentServer;
  let legacy: AgentServer;
  let p: AisixProcess;
  let api: AdminClient;
  let key = '';
  let noAgentsKey = '';
  let legacyOnlyKey = '';
  let helperId = '';

  /** `k` null: no credential at all. */
  const call = (agent: string, body: unknown, k: string | null = key) =>
    httpSend('POST', `${p.proxyUrl}/a2a/${agent}`, k === null ? {} : { authorization: `Bearer ${k}` }, body);

  before(async () => {
    const etcd = await testEtcd();
    helper = await startAgent('helper', PREFIX, '1.0');
    legacy = await startAgent('legacy', '/rpc', '0.3');
    p = await startAisix({ name: 'all', dir, role: 'all', etcd });
    await waitStatus(p, `${p.proxyUrl}/readyz`, 200);
    api = new AdminClient(p.adminUrl);
    helperId = (
      await api.create('a2a_agents', { name: 'helper', url: helper.url, auth_type: 'bearer', secret: BEARER })
    ).id;
    await api.create('a2a_agents', {
      name: 'legacy',
      url: legacy.url,
      protocol_version: '0.3',
      auth_type: 'api_key',
      secret: API_KEY,
    });
    await api.create('a2a_agents', { name: 'down', url: 'http://127.0.0.1:1/rpc' });
    await api.create('a2a_agents', { name: 'slowpoke', url: helper.url, timeout_ms: 400 });
    await api.create('a2a_agents', { name: 'off', url: helper.url, enabled: false });
    const k = await api.create('api_keys', { allowed_models: [], allowed_agents: ['*'] });
    const n = await api.create('api_keys', { allowed_models: [] });
    const l = await api.create('api_keys', { allowed_models: [], allowed_agents: ['leg*'] });
    assert.ok(k.plaintext && n.plaintext && l.plaintext);
    key = k.plaintext;
    noAgentsKey = n.plaintext;
    legacyOnlyKey = l.plaintext;
    await waitUntil(
      'the agents are served',
      async () =>
        (await call('slowpoke', { jsonrpc: '2.0', id: 0, method: 'x' })).status !== 404 ? true : undefined,
      { timeoutMs: 10_000, alive: [p] },
    );
  });

  after(async () => {
    await p?.kill();
    await helper?.close();
    await legacy?.close();
    removeDir(dir);
  });

  test('the card is served rewritten: every URL points at the gateway, found on the first candidate', async () => {
    const before = helper.seen.length;
    const r = await httpGet(`${p.proxyUrl}/a2a/helper/.well-known/agent-card.json`, {
      authorization: `Bearer ${key}`,
    });
    assert.equal(r.status, 200, r.body);
    const card = JSON.parse(r.body);
    const own = `${p.proxyUrl}/a2a/helper`;
    assert.equal(card.url, own);
    assert.deepEqual(
      card.supportedInterfaces.map((i: { url: string }) => i.url),
      [own],
    );
    assert.equal(card.version, '7.1.0');
    assert.equal(card.skills[0].name, 'echo');
    assert.ok(!r.body.includes(helper.origin), 'no upstream address in the served card');
    const hops = helper.seen.slice(before);
    assert.deepEqual(
      hops.map((h) => `${h.method} ${h.path}`),
      [`GET ${PREFIX}/.well-known/agent-card.json`],
      'resolved on its first candidate; the origin catch-all is never touched',
    );
    assert.equal(hops[0]?.headers['a2a-version'], '1.0');
    assert.equal(hops[0]?.headers.authorization, `Bearer ${BEARER}`);
  });

  test('protocol 1.0: SDK client message send through the gateway; the agent sees the stored bearer only', async () => {
    const before = helper.seen.length;
    const client = await gatewayClient(p.proxyUrl, 'helper', key);
    const reply = await client.sendMessage({
      tenant: '',
      message: userMessage('hello there', 'm-1'),
      configuration: undefined,
      metadata: undefined,
    });
    assert.ok('parts' in reply, JSON.stringify(reply));
    assert.deepEqual(reply.parts[0]?.content, { $case: 'text', value: 'echo: hello there' });
    const hops = helper.seen.slice(before).filter((h) => h.method === 'POST');
    assert.equal(hops.length, 1);
    assert.equal(hops[0]?.rpcMethod, 'SendMessage');
    assert.equal(hops[0]?.headers['a2a-version'], '1.0');
    assert.equal(hops[0]?.headers.authorization, `Bearer ${BEARER}`);
    for (const h of helper.seen)
      assert.ok(!JSON.stringify(h.headers).includes(key), 'the caller key never goes upstream');
    assert.ok(!JSON.stringify(reply).includes(BEARER));
  });

  test('protocol 1.0: message stream arrives event by event, then the task is polled', async () => {
    const before = helper.seen.length;
    const client = await gatewayClient(p.proxyUrl, 'helper', key);
    const arrivals: number[] = [];
    const states: string[] = [];
    let taskId = '';
    for await (const ev of client.sendMessageStream({
      tenant: '',
      message: userMessage('task: count', 'm-2'),
      configuration: undefined,
      metadata: undefined,
    })) {
      arrivals.push(Date.now());
      const pl = ev.payload;
      if (pl?.$case === 'task') {
        taskId = pl.value.id;
        states.push(`task:${pl.value.status?.state}`);
      } else if (pl?.$case === 'statusUpdate') {
        assert.equal(pl.value.taskId, taskId, 'events carry the task id');
        states.push(`status:${pl.value.status?.state}`);
      }
    }
    assert.deepEqual(states, [
      `task:${TaskState.TASK_STATE_SUBMITTED}`,
      `status:${TaskState.TASK_STATE_WORKING}`,
      `status:${TaskState.TASK_STATE_WORKING}`,
      `status:${TaskState.TASK_STATE_COMPLETED}`,
    ]);
    // Relayed as they happen: the agent spaces its events; a buffering relay would deliver them together.
    const spread = (arrivals.at(-1) ?? 0) - (arrivals[0] ?? 0);
    assert.ok(spread >= STREAM_GAP_MS * 2, `events arrived over ${spread} ms`);
    const hop = helper.seen.slice(before).find((h) => h.method === 'POST');
    assert.equal(hop?.rpcMethod, 'SendStreamingMessage');
    assert.match(String(hop?.headers.accept), /text\/event-stream/);
    const task = await client.getTask({ tenant: '', id: taskId, historyLength: undefined });
    assert.equal(task.id, taskId);
    assert.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED);
    assert.equal(helper.seen.at(-1)?.rpcMethod, 'GetTask');
  });

  test('protocol 0.3: the pinned version reaches the agent; send, stream and get with 0.3 method names', async () => {
    const client = await gatewayClient(p.proxyUrl, 'legacy', legacyOnlyKey);
    const reply = await client.sendMessage({
      tenant: '',
      message: userMessage('old school', 'm-3'),
      configuration: undefined,
      metadata: undefined,
    });
    assert.ok('parts' in reply, JSON.stringify(reply));
    assert.deepEqual(reply.parts[0]?.content, { $case: 'text', value: 'echo: old school' });
    let taskId = '';
    let last: unknown;
    for await (const ev of client.sendMessageStream({
      tenant: '',
      message: userMessage('task: legacy', 'm-4'),
      configuration: undefined,
      metadata: undefined,
    })) {
      if (ev.payload?.$case === 'task') taskId = ev.payload.value.id;
      last = ev.payload;
    }
    assert.ok(taskId !== '');
    assert.deepEqual(
      (last as { value: { status: { state: number } } }).value.status.state,
      TaskState.TASK_STATE_COMPLETED,
    );
    const task = await client.getTask({ tenant: '', id: taskId, historyLength: undefined });
    assert.equal(task.status?.state, TaskState.TASK_STATE_COMPLETED);
    const posts = legacy.seen.filter((h) => h.method === 'POST');
    assert.deepEqual(
      posts.map((h) => h.rpcMethod),
      ['message/send', 'message/stream', 'tasks/get'],
    );
    for (const h of legacy.seen) {
      assert.equal(h.headers['a2a-version'], '0.3', `${h.method} ${h.path}`);
      assert.equal(h.headers['x-api-key'], API_KEY);
    }
  });

  test('caller key missing, wrong or not allowed; unknown and disabled agents', async () => {
    const rpc = { jsonrpc: '2.0', id: 7, method: 'SendMessage', params: {} };
    const none = await call('helper', rpc, null);
    assert.equal(none.status, 401);
    assert.ok(JSON.parse(none.body).error.message, 'OpenAI envelope');
    assert.equal((await call('helper', rpc, 'sk-wrong')).status, 401);
    assert.equal((await call('nope', rpc, null)).status, 401, 'unauthenticated callers learn nothing');
    const denied = await call('helper', rpc, noAgentsKey);
    assert.equal(denied.status, 403);
    assert.equal(denied.body, 'this key may not reach A2A agent: helper');
    assert.equal((await call('helper', rpc, legacyOnlyKey)).status, 403);
    const unknown = await call('nope', rpc);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body, 'unknown A2A agent: nope');
    assert.equal((await call('off', rpc)).status, 404);
    const card = (k: string | undefined, agent = 'helper') =>
      httpGet(
        `${p.proxyUrl}/a2a/${agent}/.well-known/agent-card.json`,
        k ? { authorization: `Bearer ${k}` } : {},
      );
    assert.equal((await card(undefined)).status, 401);
    assert.equal((await card(noAgentsKey)).status, 403);
    assert.equal((await card(key, 'off')).status, 404);
    // The SDK client surfaces the refusal as an error, it does not hang.
    await assert.rejects(gatewayClient(p.proxyUrl, 'helper', 'sk-wrong'));
  });

  test('quota: the key inline limit applies to A2A calls (429, OpenAI envelope, Retry-After)', async () => {
    const k = await api.create('api_keys', {
      allowed_models: [],
      allowed_agents: ['*'],
      rate_limit: { rpm: 1 },
    });
    assert.ok(k.plaintext);
    const rpc = { jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: 'none' } };
    const first = await call('legacy', rpc, k.plaintext);
    assert.equal(first.status, 200, first.body);
    assert.ok(JSON.parse(first.body).error, "the agent's own JSON-RPC error is relayed verbatim");
    const res = await fetch(`${p.proxyUrl}/a2a/legacy`, {
      method: 'POST',
      headers: { authorization: `Bearer ${k.plaintext}`, 'content-type': 'application/json' },
      body: JSON.stringify(rpc),
    });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'rate_limit_exceeded');
  });

  test('malformed bodies, agent down, agent timeout: clear errors, nothing hangs', async () => {
    const bad = await httpSend(
      'POST',
      `${p.proxyUrl}/a2a/helper`,
      { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      undefined,
    );
    assert.equal(bad.status, 400);
    const junk = await fetch(`${p.proxyUrl}/a2a/helper`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0",',
    });
    assert.equal(junk.status, 400);
    assert.equal(await junk.text(), 'invalid JSON-RPC body');
    const down = await call('down', { jsonrpc: '2.0', id: 'd-1', method: 'SendMessage', params: {} });
    assert.equal(down.status, 502);
    const e = JSON.parse(down.body);
    assert.equal(e.id, 'd-1');
    assert.equal(e.error.code, -32000);
    assert.match(e.error.message, /^failed to reach upstream A2A agent: /);
    const downStream = await call('down', {
      jsonrpc: '2.0',
      id: 9,
      method: 'SendStreamingMessage',
      params: {},
    });
    assert.equal(downStream.status, 502);
    const t0 = Date.now();
    const slow = await call('slowpoke', {
      jsonrpc: '2.0',
      id: 3,
      method: 'SendMessage',
      params: { message: { messageId: 's', role: 'ROLE_USER', parts: [{ text: 'slow please' }] } },
    });
    const took = Date.now() - t0;
    assert.equal(slow.status, 502, slow.body);
    assert.match(JSON.parse(slow.body).error.message, /timed out after 400 ms/);
    assert.ok(took < 1800, `answered after ${took} ms, not after the agent's 2 s`);
    p.assertAlive();
  });

  test('a client that leaves a stream cancels the upstream request', async () => {
    const before = helper.seen.length;
    const ac = new AbortController();
    const res = await fetch(`${p.proxyUrl}/a2a/helper`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        accept: 'text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'long-1',
        method: 'SendStreamingMessage',
        params: { message: { messageId: 'l', role: 'ROLE_USER', parts: [{ text: 'long run' }] } },
      }),
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-type')), /text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /^data: \{/);
    ac.abort();
    const hop = await waitUntil(
      'the upstream stream closed',
      async () => helper.seen.slice(before).find((h) => h.method === 'POST' && h.closedAt !== undefined),
      { timeoutMs: 3000, alive: [p] },
    );
    assert.equal(hop.finished, undefined, 'closed before the agent finished its 20 s task');
  });

  test('live from the store: a disabled agent is gone on the next request; metrics and access log', async () => {
    const r = await api.raw('PUT', `/a2a_agents/${helperId}`, {
      name: 'helper',
      url: helper.url,
      auth_type: 'bearer',
      secret: BEARER,
      enabled: false,
    });
    assert.equal(r.status, 200, r.body);
    await waitUntil(
      'helper disabled',
      async () =>
        (await call('helper', { jsonrpc: '2.0', id: 1, method: 'GetTask' })).status === 404
          ? true
          : undefined,
      { timeoutMs: 10_000, alive: [p] },
    );
    const metrics = (await httpGet(`${p.metricsUrl}/metrics`)).body;
    assert.match(metrics, /endpoint="\/a2a"/);
    assert.match(metrics, /inbound_protocol="a2a"/);
    const out = p.output();
    assert.ok(out.includes('"path":"/a2a"'), 'access log path is /a2a');
    for (const s of [BEARER, API_KEY, key])
      assert.ok(!out.includes(s), 'no secret or caller key in the logs');
    // Once per credentialed agent on http:// (helper, legacy), not once per snapshot.
    const cleartext = out
      .split('\n')
      .filter((l) => l.includes('A2A agent') && l.includes('sent over cleartext http'));
    assert.equal(cleartext.length, 2, cleartext.join('\n'));
    const inert = out.split('\n').filter((l) => l.includes('does not enforce yet'));
    assert.ok(
      inert.every((l) => !l.includes('a2a') && !l.includes('allowed_agents')),
      inert.join('\n'),
    );
  });
});
