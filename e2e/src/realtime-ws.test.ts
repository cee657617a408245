/**
 * `GET /v1/realtime` end to end (agents-and-jobs §7, issue 12): a `ws` client against a real
 * `--role all` process (resources written through the Admin API to real etcd, `realtime-rig.ts`)
 * relaying to a mock OpenAI Realtime upstream built with `ws`. Covers every behaviour §7.6 pins,
 * both directions (text and binary), close codes both ways, refusals before the 101, an upstream
 * refusing its handshake, the idle budget, client disconnects, usage committed to limits and
 * metrics, upgrades on other paths, and the drain.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { waitUntil } from './harness.js';
import { roomInMinute } from './limits-harness.js';
import { dial } from './realtime-client.js';
import { opened, PK_SECRET, type RealtimeRig, startRealtimeRig } from './realtime-rig.js';
import { USAGE } from './realtime-upstream.js';

/** A raw HTTP/1.1 exchange (the request is written as is; the answer read to the close). */
function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(request));
    let out = '';
    s.on('data', (d) => {
      out += d.toString('latin1');
    });
    s.on('error', reject);
    s.on('close', () => resolve(out));
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

describe('realtime WebSocket relay', () => {
  let rig: RealtimeRig;
  let up: RealtimeRig['up'];
  let p: RealtimeRig['p'];
  let key = '';
  let limitedKey = '';
  let wsBase = '';

  before(async () => {
    rig = await startRealtimeRig('realtime');
    ({ up, p, key, limitedKey, wsBase } = rig);
  });

  after(async () => {
    await rig?.stop();
  });

  test('§7.6: subprotocol auth from a header-less client, `realtime` selected, events relayed verbatim, PK bearer upstream', async () => {
    const next = up.nextSession();
    const c = await opened(`${wsBase}?model=rt`, [
      'realtime',
      `openai-insecure-api-key.${key}`,
      'openai-beta.realtime-v1',
    ]);
    assert.equal(c.ws.protocol, 'realtime');
    const s = await next;
    const update = JSON.stringify({
      type: 'session.update',
      session: { modalities: ['text'], voice: 'alloy' },
    });
    c.ws.send(update);
    const updated = await c.next();
    assert.equal(updated.binary, false);
    assert.equal(updated.data.toString(), JSON.stringify({ type: 'session.updated', event_id: 'e1' }));
    assert.equal(
      s.received[0]?.data.toString(),
      update,
      'the client event reaches the upstream byte for byte',
    );
    assert.equal(s.received[0]?.binary, false);
    c.ws.send(JSON.stringify({ type: 'response.create' }));
    const done = await c.next();
    assert.equal(
      done.data.toString(),
      JSON.stringify({ type: 'response.done', event_id: 'e2', response: { id: 'r1', usage: USAGE } }),
    );
    // The upstream handshake: the PK's bearer, the upstream model id, never the caller key.
    const hs = s.handshake;
    assert.equal(hs.headers.authorization, `Bearer ${PK_SECRET}`);
    assert.equal(hs.headers['openai-beta'], 'realtime=v1');
    assert.equal(new URL(hs.url, 'http://x').searchParams.get('model'), 'gpt-realtime-test');
    assert.ok(!JSON.stringify(hs).includes(key), 'the caller key never goes upstream');
    c.ws.close(1000, 'done');
    assert.deepEqual(await s.closed, { code: 1000, reason: 'done' });
    await c.closed;
  });

  test('binary frames both ways; close codes propagated client→upstream and upstream→client', async () => {
    let next = up.nextSession();
    const a = await opened(`${wsBase}?model=rt`, [], { 'x-api-key': key });
    const sa = await next;
    const bytes = Buffer.from([0, 1, 2, 250, 255, 13, 10]);
    a.ws.send(bytes);
    const echo = await a.next();
    assert.equal(echo.binary, true);
    assert.deepEqual(echo.data, bytes);
    assert.equal(sa.received[0]?.binary, true);
    a.ws.close(4001, 'bye from client');
    assert.deepEqual(await sa.closed, { code: 4001, reason: 'bye from client' });

    next = up.nextSession();
    const b = await opened(`${wsBase}?model=rt`, [], { authorization: `Bearer ${key}` });
    await next;
    b.ws.send(JSON.stringify({ type: 'test.close', code: 4002, reason: 'bye from upstream' }));
    assert.deepEqual(await b.closed, { code: 4002, reason: 'bye from upstream' });
  });

  test('refusals are plain HTTP before any 101, in the OpenAI envelope; the upstream is never dialled', async () => {
    const before = up.handshakes.length;
    const plain = await fetch(`${p.proxyUrl}/v1/realtime?model=rt`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(plain.status, 400);
    const body = (await plain.json()) as { error: { type: string; message: string } };
    assert.equal(body.error.type, 'websocket_upgrade_required');
    assert.match(body.error.message, /^this endpoint requires a WebSocket upgrade:/);
    const head = await fetch(`${p.proxyUrl}/v1/realtime?model=rt`, { method: 'HEAD' });
    assert.equal(head.status, 405);
    assert.equal(head.headers.get('allow'), 'GET, HEAD');

    const cases: [string, string[], Record<string, string>, number, string][] = [
      ['no credentials', [], {}, 401, 'invalid_api_key'],
      ['bad key', [], { authorization: 'Bearer sk-not-a-key' }, 401, 'invalid_api_key'],
      ['bad subprotocol key', ['realtime', 'openai-insecure-api-key.sk-nope'], {}, 401, 'invalid_api_key'],
      // A malformed Authorization never falls back to the subprotocol key.
      [
        'non-bearer header',
        ['realtime', `openai-insecure-api-key.${key}`],
        { authorization: `Basic ${key}` },
        401,
        'invalid_api_key',
      ],
    ];
    for (const [what, protocols, headers, status, type] of cases) {
      const d = await dial(`${wsBase}?model=rt`, protocols, headers);
      assert.ok(!d.ok, `${what}: no 101`);
      assert.equal(d.status, status, what);
      assert.equal((JSON.parse(d.body) as { error: { type: string } }).error.type, type, what);
    }
    const auth = { authorization: `Bearer ${key}` };
    const byModel: [string, number, string][] = [
      ['', 400, 'invalid_request_error'],
      ['?model=%20', 400, 'invalid_request_error'],
      ['?model=nope', 404, 'model_not_found'],
      ['?model=rt-other', 403, 'permission_denied'],
    ];
    for (const [q, status, type] of byModel) {
      const d = await dial(`${wsBase}${q}`, [], auth);
      assert.ok(!d.ok && d.status === status, `${q}: ${d.ok ? 101 : d.status}`);
      assert.equal((JSON.parse(d.body) as { error: { type: string } }).error.type, type);
      assert.ok(d.headers['x-aisix-request-id'], 'every answer carries the request id');
    }
    assert.equal(up.handshakes.length, before, 'no refused request reached the upstream');
  });

  test('an upstream refusing its handshake: one error frame, then close 1011', async () => {
    const c = await opened(`${wsBase}?model=rt-refused`, [], { authorization: `Bearer ${key}` });
    const f = await c.next();
    assert.deepEqual(JSON.parse(f.data.toString()), {
      type: 'error',
      error: { type: 'upstream_error', message: 'failed to connect to the upstream realtime endpoint' },
    });
    assert.equal((await c.closed).code, 1011);
  });

  test("no frame for the model's stream budget: 1001 `idle timeout` to both sides, recorded as 504", async () => {
    const next = up.nextSession();
    const c = await opened(`${wsBase}?model=rt-idle`, [], { authorization: `Bearer ${key}` });
    const s = await next;
    // Traffic inside the budget keeps the session open.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300));
      c.ws.send(JSON.stringify({ type: 'session.update' }));
      await c.next();
    }
    assert.deepEqual(await c.closed, { code: 1001, reason: 'idle timeout' });
    assert.equal((await s.closed).code, 1001);
    await waitUntil(
      'the idle session is access-logged as 504',
      async () =>
        p
          .output()
          .split('\n')
          .some(
            (l) =>
              l.includes('"path":"/v1/realtime"') &&
              l.includes('"status":504') &&
              l.includes('"model":"rt-idle"'),
          )
          ? true
          : undefined,
      { timeoutMs: 3000, alive: [p] },
    );
  });

  test('a client that vanishes (no close frame) closes the upstream', async () => {
    const next = up.nextSession();
    const c = await opened(`${wsBase}?model=rt`, [], { authorization: `Bearer ${key}` });
    const s = await next;
    c.ws.terminate();
    const closed = await s.closed;
    assert.equal(closed.code, 1001);
  });

  test('session usage is committed to the rate limits and counted in the metrics and access log', async () => {
    await roomInMinute(10);
    const next = up.nextSession();
    const c = await opened(`${wsBase}?model=rt`, [], { authorization: `Bearer ${limitedKey}` });
    await next;
    c.ws.send(JSON.stringify({ type: 'response.create' }));
    await c.next();
    c.ws.close();
    await c.closed;
    // 18 tokens committed against tpm 10: the next handshake is refused before its 101.
    const refused = await waitUntil(
      'the token limit refuses the next session',
      async () => {
        const d = await dial(`${wsBase}?model=rt`, [], { authorization: `Bearer ${limitedKey}` });
        if (d.ok) {
          d.client.ws.close();
          return undefined;
        }
        return d;
      },
      { timeoutMs: 5000, alive: [p] },
    );
    assert.equal(refused.status, 429);
    assert.equal((JSON.parse(refused.body) as { error: { type: string } }).error.type, 'rate_limit_exceeded');
    const metrics = await (await fetch(`${p.metricsUrl}/metrics`)).text();
    const line = metrics
      .split('\n')
      .find((l) => l.startsWith('aisix_llm_input_tokens_total') && l.includes('endpoint="/v1/realtime"'));
    assert.ok(line, 'realtime input tokens are exported');
    assert.ok(Number(line.split(' ').pop()) >= USAGE.input_tokens, line);
    const log = p
      .output()
      .split('\n')
      .find(
        (l) => l.includes('"path":"/v1/realtime"') && l.includes(`"prompt_tokens":${USAGE.input_tokens}`),
      );
    assert.ok(log, 'the session is access-logged with its tokens');
    assert.match(log, /"status":200/);
  });

  test('an upgrade request on another path is served as plain HTTP (the upgrade is ignored)', async () => {
    const out = await rawHttp(
      p.ports.proxy,
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: close\r\n\r\n`,
    );
    assert.match(out, /^HTTP\/1\.1 200 /);
    assert.match(out, /"rt"/);
  });

  test('graceful shutdown (SIGTERM) closes open sessions with 1001 on both sides', async () => {
    const next = up.nextSession();
    const c = await opened(`${wsBase}?model=rt`, [], { authorization: `Bearer ${key}` });
    const s = await next;
    p.child.kill('SIGTERM');
    assert.equal((await c.closed).code, 1001);
    assert.equal((await s.closed).code, 1001);
  });
});
