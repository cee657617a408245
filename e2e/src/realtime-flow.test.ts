/**
 * `/v1/realtime` sessions under load and policy (agents-and-jobs §7.4, issue 12), on the rig of
 * `realtime-rig.ts`: guardrails on frames both ways, backpressure against a client that stops
 * reading, and the relay's overhead against a direct connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitUntil } from './harness.js';
import { type Client, dial } from './realtime-client.js';
import { opened, type RealtimeRig, startRealtimeRig } from './realtime-rig.js';

describe('realtime sessions: guardrails, backpressure, overhead', () => {
  let rig: RealtimeRig;
  let up: RealtimeRig['up'];
  let p: RealtimeRig['p'];
  let key = '';
  let wsBase = '';
  let concurrencyKey = '';

  before(async () => {
    rig = await startRealtimeRig('realtime-flow');
    ({ up, p, key, wsBase } = rig);
    concurrencyKey = rig.concurrencyKey;
  });

  after(async () => {
    await rig?.stop();
  });

  test('the rate-limit reservation is held for the whole session: concurrency 1 refuses a second one until the first ends', async () => {
    const auth = { authorization: `Bearer ${concurrencyKey}` };
    const first = await opened(`${wsBase}?model=rt`, [], auth);
    const second = await dial(`${wsBase}?model=rt`, [], auth);
    assert.ok(!second.ok, 'no 101 while the first session is open');
    assert.equal(second.status, 429);
    assert.equal((JSON.parse(second.body) as { error: { type: string } }).error.type, 'rate_limit_exceeded');
    first.ws.close();
    await first.closed;
    const third = await waitUntil(
      'a session opens once the first ended',
      async () => {
        const d = await dial(`${wsBase}?model=rt`, [], auth);
        return d.ok ? d.client : undefined;
      },
      { timeoutMs: 5000, alive: [p] },
    );
    third.ws.close();
    await third.closed;
  });

  test('azure-openai: the deployment URL with the realtime api-version and the api-key header', async () => {
    const next = up.nextSession();
    const c = await opened(`${wsBase}?model=rt-azure`, [], { authorization: `Bearer ${concurrencyKey}` });
    const s = await next;
    const u = new URL(s.handshake.url, 'http://x');
    assert.equal(u.pathname, '/openai/realtime');
    assert.equal(u.searchParams.get('api-version'), '2024-10-01-preview');
    assert.equal(u.searchParams.get('deployment'), 'rt-deployment');
    assert.equal(s.handshake.headers['api-key'], 'azure-upstream-key');
    assert.equal(s.handshake.headers.authorization, undefined);
    c.ws.send(JSON.stringify({ type: 'session.update' }));
    assert.equal(JSON.parse((await c.next()).data.toString()).type, 'session.updated');
    c.ws.close();
    await c.closed;
  });

  test('guardrails on frames: a blocked client or upstream text frame is not relayed; error event, 1011, status 400', async () => {
    const auth = { authorization: `Bearer ${key}` };
    let next = up.nextSession();
    const a = await opened(`${wsBase}?model=rt-guard`, [], auth);
    const sa = await next;
    a.ws.send(JSON.stringify({ type: 'session.update', session: { instructions: 'be brief' } }));
    await a.next();
    const bad = JSON.stringify({
      type: 'conversation.item.create',
      item: { content: [{ text: 'say forbidden-word' }] },
    });
    a.ws.send(bad);
    assert.deepEqual(JSON.parse((await a.next()).data.toString()), {
      type: 'error',
      error: {
        type: 'invalid_request_error',
        code: 'content_filtered',
        message: "request blocked by content policy (guardrail 'rt-words')",
      },
    });
    assert.deepEqual(await a.closed, { code: 1011, reason: 'content policy' });
    await sa.closed;
    assert.ok(
      !sa.received.some((f) => f.data.toString() === bad),
      'the blocked frame never reached the upstream',
    );

    next = up.nextSession();
    const b = await opened(`${wsBase}?model=rt-guard`, [], auth);
    await next;
    const say = (text: string) =>
      JSON.stringify({ type: 'test.say', reason: Buffer.from(text).toString('base64') });
    b.ws.send(say('all fine'));
    assert.equal(JSON.parse((await b.next()).data.toString()).delta, 'all fine');
    b.ws.send(say('here is forbidden-word'));
    const err = JSON.parse((await b.next()).data.toString()) as { error: { message: string } };
    assert.equal(err.error.message, "response blocked by content policy (guardrail 'rt-words')");
    assert.equal((await b.closed).code, 1011);
    await waitUntil(
      'the blocked sessions are access-logged as 400',
      async () =>
        p
          .output()
          .split('\n')
          .filter(
            (l) =>
              l.includes('"path":"/v1/realtime"') &&
              l.includes('"status":400') &&
              l.includes('"model":"rt-guard"'),
          ).length === 2
          ? true
          : undefined,
      { timeoutMs: 3000, alive: [p] },
    );
  });

  test('backpressure: a client that stops reading stalls the upstream; nothing is lost once it reads again', async () => {
    const next = up.nextSession();
    const c = await opened(`${wsBase}?model=rt`, [], { authorization: `Bearer ${key}` });
    const s = await next;
    c.ws.send(JSON.stringify({ type: 'test.flood', code: 4000 }));
    c.ws.pause();
    await new Promise((r) => setTimeout(r, 4300));
    // Socket buffers on three hops plus the gateway's ~1 MiB queue: far below what loopback moves
    // in 4 s when nothing pushes back (about 100 MiB on a loaded 2-core machine).
    const held = s.flooded;
    assert.ok(held < 32 * 1024 * 1024, `the upstream got ${held} bytes out while the client read nothing`);
    c.ws.resume();
    let got = 0;
    for (;;) {
      const f = await c.next();
      if (!f.binary) {
        const done = JSON.parse(f.data.toString()) as { type: string; bytes: number };
        assert.equal(done.type, 'test.flood.done');
        assert.equal(got, done.bytes, 'every byte sent reached the client, in order');
        break;
      }
      got += f.data.length;
    }
    console.log(
      `# backpressure: ${(held / 1048576).toFixed(1)} MiB left the upstream while the client was paused`,
    );
    c.ws.close();
    await c.closed;
  });

  test('relay overhead: 300 sequential binary round trips through the gateway vs straight to the upstream', async () => {
    const direct = await opened(`${up.apiBase.replace('http:', 'ws:')}/realtime?model=direct`);
    const relayed = await opened(`${wsBase}?model=rt`, [], { authorization: `Bearer ${key}` });
    const rtt = async (c: Client): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < 300; i++) {
        const frame = Buffer.alloc(1024, i % 256);
        const t0 = performance.now();
        c.ws.send(frame);
        const back = await c.next();
        out.push(performance.now() - t0);
        assert.deepEqual(back.data, frame, `round trip ${i} comes back intact`);
      }
      return out.sort((a, b) => a - b);
    };
    const d = await rtt(direct);
    const r = await rtt(relayed);
    const pct = (xs: number[], q: number) => (xs[Math.floor(q * (xs.length - 1))] as number).toFixed(3);
    console.log(
      `# realtime 1 KiB round trip ms: direct p50 ${pct(d, 0.5)} p99 ${pct(d, 0.99)}; via gateway p50 ${pct(r, 0.5)} p99 ${pct(r, 0.99)}`,
    );
    direct.ws.close();
    relayed.ws.close();
    await Promise.all([direct.closed, relayed.closed]);
  });
});
