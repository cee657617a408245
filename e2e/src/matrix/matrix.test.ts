/**
 * "Every dialect in, every provider out": each ingress dialect (OpenAI chat completions,
 * Anthropic messages, OpenAI Responses; driven by the official SDKs) × each upstream family
 * (OpenAI, Anthropic, Google AI, Bedrock, Azure OpenAI, Vertex) × JSON and streaming, through one
 * real gateway and mock upstreams speaking each provider's real wire.
 *
 * Every cell checks, with one generic runner:
 * - text round trip: the prompt reached the upstream in its wire, the answer reached the caller
 *   in its dialect, with the upstream's usage in the dialect's usage shape and the caller's alias
 *   as model;
 * - tool round trip: tools translated into the upstream's wire, the upstream's tool call seen by
 *   the caller in its dialect, then the caller's tool result translated back into the upstream's
 *   wire (asserted on what the mock received);
 * - provider errors: 401, 404, 429 (Retry-After forwarded), 500 and 503 (→ 502), a malformed body
 *   and a truncated response/stream, each in the caller's envelope (or, mid-stream, the dialect's
 *   error frame without the normal terminator), seen both by the SDK and on the raw wire;
 * - on every upstream request: the upstream's own credential only (see credentials.test.ts for
 *   the hostile-header variant).
 *
 * Subtests are named `<dialect> × <upstream> × <stream|json>`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Recorded } from '../fixtures/mock-server.js';
import {
  type Failure,
  fullText,
  PROMPT,
  RETRY_AFTER,
  type Scenario,
  TOOL_ARGS,
  TOOL_NAME,
  TOOL_PROMPT,
  tokens,
} from '../fixtures/scenario.js';
import { DIALECTS, type Dialect, type Outcome } from './dialects.js';
import { isObj } from './probes.js';
import { FAMILIES, type Family, foreignSecrets } from './upstreams.js';
import { startWorld, type World } from './world.js';

let world: World;

before(async () => {
  world = await startWorld();
});

after(async () => {
  await world?.close();
});

const body = (r: Recorded): Record<string, unknown> => (isObj(r.json) ? r.json : {});

/** Runs `fn` under `scenario` and returns what `f`'s mock received meanwhile; no other model mock may be called. */
async function exchange<T>(
  d: Dialect,
  f: Family,
  scenario: Scenario,
  fn: () => Promise<T>,
): Promise<{ out: T; reqs: Recorded[] }> {
  world.set(scenario, d.id);
  const before = new Map([...world.mocks].map(([id, m]) => [id, m.requests.length]));
  const out = await fn();
  for (const [id, m] of world.mocks) {
    if (id !== f.id) assert.equal(m.requests.length, before.get(id), `${id} was called for a ${f.id} model`);
  }
  const mock = world.mocks.get(f.id);
  assert.ok(mock);
  return { out, reqs: mock.requests.slice(before.get(f.id)) };
}

/** Own credential only, nothing of the caller's, no inbound x-aisix-* header. */
function assertIsolated(f: Family, r: Recorded): void {
  f.assertCredential(r, world.authority.minted);
  const all = `${JSON.stringify(r.headers)}\n${r.url}\n${r.body}`;
  for (const s of foreignSecrets(f.id))
    assert.ok(!all.includes(s), `${f.id} upstream received a foreign secret (${s.slice(0, 12)}…)`);
  assert.ok(!all.includes('caller-probe-value'), 'an inbound x-aisix-* header reached the upstream');
  assert.ok(
    !all.includes('caller-chosen-request-id'),
    'the caller-chosen x-aisix-request-id reached the upstream',
  );
  for (const h of Object.keys(r.headers)) {
    if (h.startsWith('x-aisix-')) assert.equal(h, 'x-aisix-request-id', `inbound header ${h} forwarded`);
  }
}

function assertUsage(o: Outcome, f: Family, step: 'text' | 'tool' | 'final'): void {
  const t = tokens(f.offset, step);
  assert.deepEqual(
    { input: o.usage.input, output: o.usage.output },
    { input: t.input, output: t.output },
    'usage in the caller dialect = what the upstream reported',
  );
  if (o.usage.total !== undefined) assert.equal(o.usage.total, t.input + t.output, 'total tokens');
}

function assertOk(o: Outcome, d: Dialect, f: Family, stream: boolean): void {
  assert.equal(o.model, f.alias, 'the caller sees its own model alias');
  if (stream) assert.ok(o.completed, 'the stream ended with the dialect’s normal terminator');
  if (stream && d.id === 'openai-chat') assert.ok(o.openedWithRole, 'a chat stream opens with a role delta');
}

async function textRoundTrip(d: Dialect, f: Family, stream: boolean): Promise<void> {
  const { out, reqs } = await exchange(d, f, { kind: 'ok', step: 'text' }, () =>
    d.run(world.base, f.alias, stream, 'text'),
  );
  assert.equal(reqs.length, 1, 'one upstream call');
  const r = reqs[0] as Recorded;
  f.assertRoute(r, d.id, stream);
  assertIsolated(f, r);
  assert.deepEqual(f.probe(d.id).userTexts(body(r)), [PROMPT], 'the prompt in the upstream wire');
  assertOk(out, d, f, stream);
  assert.equal(out.text, fullText(f.id, 'text'));
  assert.deepEqual(out.calls, []);
  assert.equal(out.finish, 'stop');
  assertUsage(out, f, 'text');
}

async function toolRoundTrip(d: Dialect, f: Family, stream: boolean): Promise<void> {
  const probe = f.probe(d.id);
  const first = await exchange(d, f, { kind: 'ok', step: 'tool' }, () =>
    d.run(world.base, f.alias, stream, 'tool'),
  );
  assert.equal(first.reqs.length, 1, 'one upstream call (turn 1)');
  const r1 = first.reqs[0] as Recorded;
  f.assertRoute(r1, d.id, stream);
  assertIsolated(f, r1);
  assert.deepEqual(probe.userTexts(body(r1)), [TOOL_PROMPT]);
  probe.assertTools(body(r1));
  const o1 = first.out;
  assertOk(o1, d, f, stream);
  assert.equal(o1.calls.length, 1, `one tool call seen by the caller: ${JSON.stringify(o1)}`);
  const call = o1.calls[0];
  assert.ok(call);
  assert.equal(call.name, TOOL_NAME);
  assert.deepEqual(call.args, { ...TOOL_ARGS });
  if (f.callId !== undefined) assert.equal(call.id, f.callId, 'the upstream tool-call id reaches the caller');
  else assert.ok(call.id.length > 0, 'a tool-call id is made up when the upstream wire has none');
  assert.equal(o1.finish, 'tool', 'finish reason says a tool was called');
  assertUsage(o1, f, 'tool');

  const second = await exchange(d, f, { kind: 'ok', step: 'final' }, () =>
    d.final(world.base, f.alias, stream, call),
  );
  assert.equal(second.reqs.length, 1, 'one upstream call (turn 2)');
  const r2 = second.reqs[0] as Recorded;
  f.assertRoute(r2, d.id, stream);
  assertIsolated(f, r2);
  probe.assertToolRoundTrip(body(r2), f.callId);
  const o2 = second.out;
  assertOk(o2, d, f, stream);
  assert.equal(o2.text, fullText(f.id, 'final'));
  assert.deepEqual(o2.calls, []);
  assert.equal(o2.finish, 'stop');
  assertUsage(o2, f, 'final');
}

const ANTHROPIC_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  502: 'api_error',
};

async function failure(d: Dialect, f: Family, stream: boolean, fl: Failure): Promise<void> {
  const sdkRun = await exchange(d, f, fl, () => d.sdkFailure(world.base, f.alias, stream));
  const rawRun = await exchange(d, f, fl, () => d.raw(world.base, f.alias, stream));
  for (const r of [...sdkRun.reqs, ...rawRun.reqs]) assertIsolated(f, r);
  assert.equal(rawRun.reqs.length, 1, 'one upstream call (no retry)');
  const sdk = sdkRun.out;
  const raw = rawRun.out;
  const ctx = `sdk=${JSON.stringify(sdk)} raw=${raw.status} ${raw.body.slice(0, 600)}`;

  const midStream = stream && fl.kind !== 'status';
  if (midStream && fl.kind === 'malformed' && f.native(d.id)) {
    // Native passthrough relays the upstream's SSE bytes verbatim (providers.md §3.1,
    // data-plane.md §4.5), the broken frame included: the caller must still not see a success.
    assert.equal(raw.status, 200, ctx);
    assert.notEqual(sdk.kind, 'none', `the caller must not see a successful stream: ${ctx}`);
    return;
  }
  if (midStream) {
    assert.equal(raw.status, 200, `the stream was committed before the failure: ${ctx}`);
    assert.match(String(raw.headers['content-type']), /^text\/event-stream/, 'an SSE response');
    const info = d.streamErrorOf(raw);
    assert.ok(info.message.length > 0, 'error frame message');
    if (fl.kind === 'in-band')
      assert.match(info.message, /in-band/, 'the upstream’s in-band message is passed on');
    assert.equal(sdk.kind, 'stream-error', `the SDK surfaces the error frame: ${ctx}`);
    return;
  }
  const status = fl.kind === 'status' ? (fl.status >= 500 ? 502 : fl.status) : 502;
  assert.equal(raw.status, status, ctx);
  assert.equal(sdk.kind, 'http', ctx);
  assert.equal(sdk.status, status, ctx);
  const info = d.errorOf(raw);
  if (d.envelope === 'anthropic') {
    assert.equal(info.type, ANTHROPIC_TYPE[status], ctx);
  } else if (fl.kind === 'status') {
    assert.equal(info.type, 'upstream_error', ctx);
    const code = fl.status < 500 ? f.codes[fl.status as 401 | 404 | 429] : undefined;
    if (code !== undefined) assert.equal(info.code, code, `derived error.code: ${ctx}`);
  } else if (fl.kind === 'malformed') {
    assert.equal(info.type, 'upstream_decode_error', ctx);
  } else {
    assert.ok(['upstream_decode_error', 'transport_error'].includes(info.type), ctx);
  }
  assert.equal(sdk.type, info.type, 'the SDK reads the same error type');
  if (fl.kind === 'status' && fl.status < 500) {
    assert.equal(info.message, f.upstreamMessage(fl.status), 'the parsed upstream message is passed on');
  }
  if (fl.kind === 'status' && fl.status >= 500 && !f.native(d.id)) {
    assert.ok(!info.message.includes('internal-detail-7f3a'), `a 5xx body is never echoed: ${info.message}`);
  }
  if (fl.kind === 'status' && fl.status === 429) {
    assert.equal(raw.headers['retry-after'], RETRY_AFTER, 'Retry-After forwarded');
    assert.equal(sdk.retryAfter, RETRY_AFTER, 'Retry-After visible to the SDK');
  }
}

const FAILURES: readonly [string, Failure][] = [
  ['upstream 401', { kind: 'status', status: 401 }],
  ['upstream 404', { kind: 'status', status: 404 }],
  ['upstream 429 + Retry-After', { kind: 'status', status: 429 }],
  ['upstream 500', { kind: 'status', status: 500 }],
  ['upstream 503', { kind: 'status', status: 503 }],
  ['malformed upstream body', { kind: 'malformed' }],
  ['truncated upstream response', { kind: 'truncated' }],
];

/** Streams only (a JSON answer has no in-band errors). */
const STREAM_FAILURES: readonly [string, Failure][] = [['in-band stream error', { kind: 'in-band' }]];

for (const d of DIALECTS) {
  for (const f of FAMILIES) {
    for (const stream of [false, true]) {
      test(`${d.id} × ${f.id} × ${stream ? 'stream' : 'json'}`, async (t) => {
        await t.test('text round trip, usage', () => textRoundTrip(d, f, stream));
        await t.test('tool round trip', () => toolRoundTrip(d, f, stream));
        for (const [name, fl] of [...FAILURES, ...(stream ? STREAM_FAILURES : [])]) {
          await t.test(name, () => failure(d, f, stream, fl));
        }
      });
    }
  }
}
