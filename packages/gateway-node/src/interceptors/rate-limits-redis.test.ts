/**
 * Rate limits on the shared counter store (`ratelimit.backend: redis`, data-plane §9.7) through a
 * started gateway and a real redis-server: an acquire there is a round trip, so the request
 * waits for it, and the client may go away meanwhile (§6.6). Its concurrency slot must still be
 * released, as after any other disconnect, not held until `concurrency_ttl_secs`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RedisCounterStore } from '@aisix/limits';
import type { RedisHandle } from '@aisix/redis';
import { type RedisProcess, startRedis } from '@aisix/testkit';
import { connectTestRedis } from '../test/cache-rig.js';
import { sleep } from '../test/mock-upstream.js';
import { type Rig, startRig } from '../test/rate-limit-rig.js';

let redis: RedisProcess;
/** The gateway's connection, and one of the test's own (to stall the server). */
let conn: RedisHandle;
let admin: RedisHandle;
let rig: Rig;

before(async () => {
  // DEBUG SLEEP stalls the server: the way to hold an acquire in flight on a real Redis.
  redis = await startRedis({ args: ['--enable-debug-command', 'yes'] });
  conn = await connectTestRedis(redis.url);
  admin = await connectTestRedis(redis.url);
  rig = await startRig({ rateLimitStore: new RedisCounterStore(conn) });
});

after(async () => {
  await rig.close();
  await conn.close();
  await admin.close();
  await redis.stop();
});

const hello = [{ role: 'user' as const, content: 'hello' }];

test('a client gone while its acquire is on Redis: the slot it took is released, the upstream never asked', async () => {
  const key = rig.key({ concurrency: 1 });
  const model = rig.model();
  const calls = rig.up.requests.length;
  const stalled = admin.command(undefined, ['DEBUG', 'SLEEP', '0.6']);
  await sleep(50);
  const ac = new AbortController();
  const gone = rig.client(key).chat.completions.create({ model, messages: hello }, { signal: ac.signal });
  await sleep(150);
  ac.abort();
  await assert.rejects(gone);
  await stalled;
  // Redis ran the acquire once it woke (the slot was taken after the client had left).
  const deadline = Date.now() + 2000;
  for (;;) {
    const r = await rig.chat(key, model);
    if (r.status === 200) break;
    assert.ok(Date.now() < deadline, `the slot is still held: ${r.status} ${JSON.stringify(r.body)}`);
    await sleep(50);
  }
  assert.equal(rig.up.requests.length - calls, 1, 'only the second request reached the upstream');
});
