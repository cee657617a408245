import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, beforeEach, test } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { pino } from 'pino';
import { ACCESS_LOG_MESSAGE } from '../pipeline/access-log.js';
import { buildSnapshot, type Docs, type Started, sha256, startTestGateway } from '../test/fixtures.js';
import { connectMcp, failure, textOf } from '../test/mcp-client.js';
import { type MockMcp, startMockMcp } from '../test/mock-mcp.js';
import type { UsageSink } from '../usage/bus.js';
import type { UsageEvent } from '../usage/events.js';

type Rows = Record<string, Record<string, unknown>>;

let alpha: MockMcp;
let g: Started;
/** A Datadog logs intake: the exporter fan-out of MCP events. */
let intake: Server;
const intakeBodies: string[] = [];
let rev = 1;
const events: UsageEvent[] = [];
const logs: Record<string, unknown>[] = [];
const sink: UsageSink = {
  name: 'collect',
  offer(batch) {
    events.push(...batch);
    return 0;
  },
};

const SECRET = 'project-nightingale';
const EMAIL = 'jane.doe@example.com';
const reversed = (s: string) => [...s].reverse().join('');

const key = (plain: string, extra: Record<string, unknown> = {}) => ({
  key_hash: sha256(plain),
  allowed_models: ['*'],
  allowed_tools: ['*'],
  ...extra,
});

const keyword = (extra: Record<string, unknown> = {}) => ({
  name: 'no-codenames',
  kind: 'keyword',
  patterns: [{ kind: 'literal', value: 'Project-Nightingale' }],
  ...extra,
});
const pii = { name: 'pii-mask', kind: 'pii', detectors: [{ type: 'email', action: 'mask' }] };

/** Swaps in a snapshot with these guardrails and attachments. */
function guard(guardrails: Rows, attachments: Rows = {}, exporters: Rows = {}): void {
  const docs = {
    mcp_servers: { a: { name: 'alpha', url: alpha.url } },
    models: {
      m1: {
        display_name: 'gpt-4o-mini',
        provider: 'openai',
        model_name: 'gpt-4o-mini',
        provider_key_id: 'pk1',
      },
    },
    provider_keys: { pk1: { display_name: 'pk', provider: 'openai', api_key: 'sk-up' } },
    api_keys: {
      k1: key('sk-one', { team_id: 'team-a' }),
      k2: key('sk-two'),
      rl: key('sk-rl', { mcp_rate_limits: { alpha: { rpm: 1 } } }),
    },
    guardrails,
    guardrail_attachments: attachments,
    observability_exporters: exporters,
  } as Docs;
  g.source.set(buildSnapshot(docs, ++rev));
}

before(async () => {
  alpha = await startMockMcp('alpha');
  process.env.DD_CRED_MCP_TEST_API_KEY = 'dd-key';
  intake = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      intakeBodies.push(body);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => intake.listen(0, '127.0.0.1', r));
  const log = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') logs.push(JSON.parse(l));
      cb();
    },
  });
  g = await startTestGateway(buildSnapshot({ mcp_servers: {} } as Docs), undefined, {
    logger: pino({ level: 'info' }, log),
  });
  g.gw.usage.attach(sink);
});

after(async () => {
  await g.gw.close();
  await alpha.close();
  await new Promise((r) => intake.close(r));
});

beforeEach(async () => {
  // Finished requests are recorded in batches; a metrics read records every one that finished,
  // so the previous test's events are in before they are forgotten.
  await g.gw.metrics.text();
  events.length = 0;
  logs.length = 0;
});

const connect = (token: string, path = '/mcp'): Promise<Client> =>
  connectMcp(g.base + path, token, 'governance-test');

/** The `n` usage events published so far (each shortly after its response closed). */
async function usage(n: number): Promise<UsageEvent[]> {
  const deadline = Date.now() + 5000;
  while (events.length < n) {
    assert.ok(Date.now() < deadline, `only ${events.length} of ${n} usage events`);
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(events.length, n, 'no extra usage events');
  return events;
}

test('input guardrail: a keyword in the arguments is a -32600 naming the guardrail; the upstream is not contacted', async () => {
  guard({ kw: keyword() });
  const c = await connect('sk-two');
  const seen = alpha.headers.length;
  const e = await failure(c.callTool({ name: 'alpha__echo', arguments: { text: `about ${SECRET}` } }));
  assert.equal(e.code, -32600);
  assert.match(e.message, /tool call blocked by content policy \(guardrail 'no-codenames'\)/);
  assert.ok(!e.message.includes(SECRET), 'the match is never echoed');
  assert.equal(alpha.headers.length, seen, 'no upstream session was opened');
  // Clean arguments still pass.
  assert.equal(textOf(await c.callTool({ name: 'alpha__echo', arguments: { text: 'hi' } })), 'alpha:echo:hi');
  await c.close();
  const [blocked, ok] = await usage(2);
  assert.equal(blocked?.status_code, 200);
  assert.equal(blocked?.guardrail_blocked, true);
  assert.equal(blocked?.error_class, 'content_filter');
  assert.deepEqual(blocked?.applied_guardrails, [{ kind: 'keyword', hook: 'input' }]);
  assert.equal(blocked?.upstream_latency_ms, null);
  assert.equal(ok?.guardrail_blocked, false);
  assert.deepEqual(ok?.applied_guardrails, [
    { kind: 'keyword', hook: 'input' },
    { kind: 'keyword', hook: 'output' },
  ]);
});

test('output guardrail: a keyword in the tool result is a -32600 "tool result blocked"', async () => {
  guard({ kw: keyword() });
  const c = await connect('sk-two');
  const calls = alpha.calls.length;
  const e = await failure(c.callTool({ name: 'alpha__reverse', arguments: { text: reversed(SECRET) } }));
  assert.equal(e.code, -32600);
  assert.match(e.message, /tool result blocked by content policy \(guardrail 'no-codenames'\)/);
  assert.equal(alpha.calls.length, calls + 1, 'the upstream ran the tool');
  await c.close();
  const [ev] = await usage(1);
  assert.equal(ev?.guardrail_blocked, true);
  assert.equal(ev?.status_code, 200);
  assert.equal(ev?.mcp_tool_name, 'reverse');
});

test('pii mask: the upstream receives masked arguments, and a result is masked on the way back', async () => {
  guard({ p: pii });
  const c = await connect('sk-two');
  const r = await c.callTool({ name: 'alpha__echo', arguments: { text: `mail ${EMAIL} now` } });
  assert.deepEqual(alpha.calls[alpha.calls.length - 1]?.args, { text: 'mail [EMAIL_REDACTED] now' });
  assert.equal(textOf(r), 'alpha:echo:mail [EMAIL_REDACTED] now');
  // An output-only guardrail: the arguments reach the tool as sent, the result is masked.
  guard({ p: { ...pii, hook_point: 'output' } });
  const back = await c.callTool({ name: 'alpha__echo', arguments: { text: `to ${EMAIL}` } });
  assert.deepEqual(alpha.calls[alpha.calls.length - 1]?.args, { text: `to ${EMAIL}` });
  assert.equal(textOf(back), 'alpha:echo:to [EMAIL_REDACTED]');
  await c.close();
  const [first, second] = await usage(2);
  assert.deepEqual(first?.redacted_entity_counts, { email: 1 });
  assert.deepEqual(first?.applied_guardrails, [
    { kind: 'pii', hook: 'input' },
    { kind: 'pii', hook: 'output' },
  ]);
  assert.deepEqual(second?.redacted_entity_counts, { email: 1 });
  assert.deepEqual(second?.applied_guardrails, [{ kind: 'pii', hook: 'output' }]);
  assert.equal(first?.guardrail_blocked, false);
});

test('monitor mode: nothing is blocked, the hits are recorded on the usage event', async () => {
  guard({ kw: keyword({ enforcement_mode: 'monitor' }) });
  const c = await connect('sk-two');
  const r = await c.callTool({ name: 'alpha__echo', arguments: { text: SECRET } });
  assert.equal(textOf(r), `alpha:echo:${SECRET}`);
  await c.close();
  const [ev] = await usage(1);
  assert.equal(ev?.guardrail_blocked, false);
  assert.deepEqual(ev?.guardrail_monitor_hits, ['no-codenames:keyword:would_block']);
  assert.ok(logs.some((l) => l.msg === 'guardrail verdict' && Array.isArray(l.monitor_hits)));
});

test('attachments: model-attached guardrails never apply; key- and team-attached ones do, for that key only', async () => {
  guard(
    { kw: keyword() },
    { at: { guardrail_id: 'kw', scope_type: 'model', scope_id: 'm1', priority: 10, enabled: true } },
  );
  const two = await connect('sk-two');
  assert.equal(
    textOf(await two.callTool({ name: 'alpha__echo', arguments: { text: SECRET } })),
    `alpha:echo:${SECRET}`,
  );
  guard(
    { kw: keyword() },
    { at: { guardrail_id: 'kw', scope_type: 'team', scope_id: 'team-a', priority: 10, enabled: true } },
  );
  const one = await connect('sk-one');
  const e = await failure(one.callTool({ name: 'alpha__echo', arguments: { text: SECRET } }));
  assert.equal(e.code, -32600);
  assert.equal((await two.callTool({ name: 'alpha__echo', arguments: { text: SECRET } })).isError, undefined);
  guard(
    { kw: keyword() },
    { at: { guardrail_id: 'kw', scope_type: 'api_key', scope_id: 'k2', priority: 10, enabled: true } },
  );
  assert.equal(
    (await failure(two.callTool({ name: 'alpha__echo', arguments: { text: SECRET } }))).code,
    -32600,
  );
  assert.equal(
    textOf(await one.callTool({ name: 'alpha__echo', arguments: { text: SECRET } })),
    `alpha:echo:${SECRET}`,
  );
  await one.close();
  await two.close();
});

test('usage events: one per tools/call (aggregated and scoped) with the MCP fields; list and initialize emit none', async () => {
  guard({});
  const c = await connect('sk-one');
  await c.listTools();
  await c.callTool({ name: 'alpha__echo', arguments: { text: 'a' } });
  assert.equal((await c.callTool({ name: 'alpha__nope__x', arguments: {} })).isError, true);
  const scoped = await connect('sk-one', '/mcp/alpha');
  await scoped.listTools();
  await scoped.callTool({ name: 'reverse', arguments: { text: 'ab' } });
  await scoped.callTool({ name: 'alpha__echo', arguments: { text: 'b' } });
  await c.close();
  await scoped.close();
  const evs = await usage(4);
  for (const ev of evs) {
    assert.equal(ev.inbound_protocol, 'mcp');
    assert.equal(ev.api_key_id, 'k1');
    assert.equal(ev.status_code, 200);
    assert.equal(ev.prompt_tokens, 0);
    assert.equal(ev.completion_tokens, 0);
    assert.equal(ev.cost_usd, 0);
    assert.equal(ev.guardrail_blocked, false);
    assert.deepEqual(ev.applied_guardrails, []);
    assert.equal(typeof ev.upstream_latency_ms, 'number');
    assert.ok(ev.downstream_latency_ms >= (ev.upstream_latency_ms ?? 0));
  }
  assert.deepEqual(
    evs.map((ev) => [ev.endpoint, ev.mcp_server_name, ev.mcp_tool_name]),
    [
      ['/mcp', 'alpha', 'echo'],
      ['/mcp', 'alpha', 'nope__x'],
      ['/mcp/:server', 'alpha', 'reverse'],
      ['/mcp/:server', 'alpha', 'echo'],
    ],
  );
  // Access log: the real path, provider and model `mcp`; every /mcp request is logged.
  const access = logs.filter((l) => l.msg === ACCESS_LOG_MESSAGE);
  assert.ok(access.some((l) => l.path === '/mcp/alpha' && l.provider === 'mcp' && l.model === 'mcp'));
  assert.ok(access.length > evs.length, 'initialize and tools/list are access-logged too');
  // Metrics: endpoint label, inbound_protocol, provider and model of the MCP surface.
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  assert.match(
    text,
    /aisix_proxy_requests_total\{endpoint="\/mcp",inbound_protocol="mcp",provider="mcp",model="mcp",[^}]*status="200"/,
  );
  assert.match(text, /aisix_proxy_requests_total\{endpoint="\/mcp\/:server",inbound_protocol="mcp"/);
  assert.match(
    text,
    /aisix_usage_events_emitted_total\{handler="\/mcp",status_code="2xx",inbound_protocol="mcp"\}/,
  );
});

test('a quota rejection (429) has its usage event; the upstream is not contacted', async () => {
  guard({});
  const c = await connect('sk-rl');
  await c.callTool({ name: 'alpha__echo', arguments: { text: '1' } });
  const seen = alpha.headers.length;
  const e = await failure(c.callTool({ name: 'alpha__reverse', arguments: { text: '2' } }));
  assert.equal(e.code, 429);
  assert.equal(alpha.headers.length, seen);
  await c.close();
  const [ok, limited] = await usage(2);
  assert.equal(ok?.status_code, 200);
  assert.equal(limited?.status_code, 429);
  assert.equal(limited?.inbound_protocol, 'mcp');
  assert.equal(limited?.mcp_server_name, 'alpha');
  assert.equal(limited?.mcp_tool_name, 'reverse');
  assert.equal(limited?.api_key_id, 'rl');
  assert.equal(limited?.upstream_latency_ms, null);
  assert.equal(limited?.error_class, 'rate_limit_exceeded');
});

test('MCP usage events are fanned out to the observability exporters (datadog intake)', async () => {
  const port = (intake.address() as AddressInfo).port;
  guard(
    {},
    {},
    {
      dd: {
        name: 'dd',
        kind: 'datadog',
        site: `127.0.0.1:${port}`,
        service: 'mcp',
        credential_ref: 'mcp-test',
      },
    },
  );
  const c = await connect('sk-two', '/mcp/alpha');
  await c.callTool({ name: 'echo', arguments: { text: 'exported' } });
  await c.close();
  const deadline = Date.now() + 15_000;
  let entry: Record<string, unknown> | undefined;
  while (entry === undefined) {
    assert.ok(Date.now() < deadline, 'no MCP entry reached the intake');
    await new Promise((r) => setTimeout(r, 50));
    entry = intakeBodies
      .flatMap((b) => JSON.parse(b) as Record<string, unknown>[])
      .find((e) => e.mcp_tool_name === 'echo');
  }
  assert.equal(entry.inbound_protocol, 'mcp');
  assert.equal(entry.mcp_server_name, 'alpha');
  assert.equal(entry.api_key_id, 'k2');
  assert.equal(entry.status_code, 200);
  assert.equal(entry.prompt_tokens, 0);
  assert.ok(!JSON.stringify(entry).includes('exported'), 'no content capture');
});
