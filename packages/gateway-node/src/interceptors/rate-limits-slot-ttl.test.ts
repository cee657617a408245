/**
 * Long requests keep their concurrency slot (data-plane §9.3 "concurrency held for the whole
 * stream", agents-and-jobs §1.3 "held for the whole call, stream or session"; docs/rate-limits.md):
 * `ratelimit.concurrency_ttl_secs` reclaims the slots of a process that died without releasing
 * them (§9.7), not the slot of a request that is still running. Here the TTL is 1 s and the
 * requests last several seconds, on the memory counters and on Redis behind the fail-open
 * wrapper (the `ratelimit.backend: redis` wiring): a chat stream and a realtime session keep a
 * `concurrency: 1` key busy to their end, and free it right after.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FailoverCounterStore, MemoryCounterStore, RedisCounterStore } from '@aisix/limits';
import type { RedisHandle } from '@aisix/redis';
import { type RedisProcess, startRedis } from '@aisix/testkit';
import { WebSocket, WebSocketServer } from 'ws';
import { connectTestRedis } from '../test/cache-rig.js';
import { sleep } from '../test/mock-upstream.js';
import { LONG_GAP_MS, LONG_WORDS, type Rig, refused, startRig } from '../test/rate-limit-rig.js';

const TTL_SECS = 1;
const hello = [{ role: 'user' as const, content: 'hello' }];
const CONCURRENCY = { message: 'concurrency limit exceeded', type: 'rate_limit_exceeded' };

/** A realtime upstream that keeps every session open, answering nothing. */
let wsHttp: Server;
let wsUrl: string;

before(async () => {
  const wss = new WebSocketServer({ noServer: true });
  wsHttp = createServer((_q, s) => s.writeHead(404).end());
  wsHttp.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
  await new Promise<void>((r) => wsHttp.listen(0, '127.0.0.1', r));
  wsUrl = `http://127.0.0.1:${(wsHttp.address() as AddressInfo).port}`;
});

after(() => {
  wsHttp.closeAllConnections();
  wsHttp.close();
});

async function assertBusy(rig: Rig, key: string, model: string, when: string): Promise<void> {
  const r = await refused(rig.client(key).chat.completions.create({ model, messages: hello }));
  assert.equal(r.status, 429, when);
  assert.deepEqual(r.error, CONCURRENCY, when);
}

/** A released slot is free once the gateway has noticed the end: poll for up to 2 s. */
async function eventuallyFree(rig: Rig, key: string, model: string): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const r = await rig.chat(key, model);
    if (r.status === 200) return;
    assert.ok(Date.now() < deadline, `the slot is still held: ${r.status} ${JSON.stringify(r.body)}`);
    await sleep(50);
  }
}

function cases(name: string, start: () => Promise<{ rig: Rig; close: () => Promise<void> }>): void {
  describe(name, () => {
    let rig: Rig;
    let close: () => Promise<void>;
    before(async () => {
      ({ rig, close } = await start());
      rig.apply({
        provider_keys: {
          pkrt: { display_name: 'rt', api_key: 'sk-rt', provider: 'openai', api_base: `${wsUrl}/v1` },
        },
      });
    });
    after(() => close());

    test(`a chat stream lasting ${(LONG_WORDS * LONG_GAP_MS) / 1000} s (TTL ${TTL_SECS} s) holds its slot to the end`, async () => {
      const key = rig.key({ concurrency: 1 });
      const long = rig.model(undefined, 'long-1');
      const fast = rig.model();
      const t0 = Date.now();
      const stream = await rig
        .client(key)
        .chat.completions.create({ model: long, messages: hello, stream: true });
      let words = 0;
      for await (const c of stream) {
        if (!c.choices[0]?.delta.content) continue;
        words++;
        // Not after the last word: the gateway may have ended the response by the time it arrives.
        if (words < LONG_WORDS) await assertBusy(rig, key, fast, `word ${words}, ${Date.now() - t0} ms in`);
      }
      assert.equal(words, LONG_WORDS);
      assert.ok(Date.now() - t0 >= 3 * TTL_SECS * 1000, 'the stream outlived several TTLs');
      await eventuallyFree(rig, key, fast);
    });

    test(`a realtime session open for 3.5 s (TTL ${TTL_SECS} s) holds its slot until it closes`, async () => {
      const key = rig.key({ concurrency: 1 });
      const rt = rig.uid('rt-');
      rig.apply({
        models: {
          [rt]: { display_name: rt, provider: 'openai', model_name: 'gpt-rt', provider_key_id: 'pkrt' },
        },
      });
      const fast = rig.model();
      const ws = new WebSocket(`${rig.base.replace('http:', 'ws:')}/v1/realtime?model=${rt}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      await new Promise((r, j) => {
        ws.once('open', r);
        ws.once('error', j);
      });
      const t0 = Date.now();
      while (Date.now() - t0 < 3500) {
        await assertBusy(rig, key, fast, `${Date.now() - t0} ms into the session`);
        await sleep(250);
      }
      assert.equal(ws.readyState, WebSocket.OPEN);
      ws.close(1000);
      await eventuallyFree(rig, key, fast);
    });
  });
}

cases('memory counters', async () => {
  const store = new MemoryCounterStore({ concurrencyTtlSecs: TTL_SECS });
  const rig = await startRig({ rateLimitStore: store });
  return {
    rig,
    close: async () => {
      await rig.close();
      await store.close();
    },
  };
});

cases('Redis counters (fail-open wrapper, as ratelimit.backend: redis)', async () => {
  const redis: RedisProcess = await startRedis();
  const conn: RedisHandle = await connectTestRedis(redis.url);
  const store = new FailoverCounterStore({
    primary: new RedisCounterStore(conn, { concurrencyTtlSecs: TTL_SECS }),
    fallback: new MemoryCounterStore({ concurrencyTtlSecs: TTL_SECS }),
    probe: () => conn.ping(),
    onFailure: (op, err) => assert.fail(`redis failed in ${op}: ${String(err)}`),
  });
  const rig = await startRig({ rateLimitStore: store });
  return {
    rig,
    close: async () => {
      await rig.close();
      await store.close();
      await conn.close();
      await redis.stop();
    },
  };
});
