/**
 * The fail-open store on a real 3-master Redis Cluster with the master of one bucket's hash
 * slot down: the outage is reported once and recovery once. The probe must reach the node that
 * failed (a keyed read routed by the failed bucket's slot); a bare PING is answered by any live
 * master, which declared Redis reachable while the slot was still down and made the store
 * switch back and forth (one warning per switch) for the whole outage.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectRedis, type RedisHandle } from '@aisix/redis';
import { type RedisClusterProcess, redisConn, startRedisCluster } from '@aisix/testkit';
import { FailoverCounterStore, type FailoverOp } from './failover-store.js';
import { MemoryCounterStore } from './memory-store.js';
import { RedisCounterStore } from './redis-store.js';

let cluster: RedisClusterProcess | undefined;
let handle: RedisHandle | undefined;
after(async () => {
  await handle?.close();
  await cluster?.stop();
});

describe('FailoverCounterStore on a Redis Cluster with one master down', () => {
  it('one failure and one recovery per outage, every request answered', async (t) => {
    cluster = await startRedisCluster({ masters: 3, nodeTimeoutMs: 1000 });
    const c = cluster;
    handle = await connectRedis(redisConn({ mode: 'cluster', nodes: [...c.nodes] }), {
      commandTimeoutMs: 300,
      reconnectMaxDelayMs: 200,
      onError: () => {},
    });
    const primary = new RedisCounterStore(handle, { prefix: 'fo-cl:' });
    const failures: FailoverOp[] = [];
    let recovered = 0;
    const store = new FailoverCounterStore({
      primary,
      fallback: new MemoryCounterStore({ sweepIntervalMs: 0 }),
      onFailure: (op) => failures.push(op),
      onRecover: () => recovered++,
      probe: (bucket?: string) => primary.probe(bucket),
      probeIntervalMs: 100,
    });
    const key = 'cl-down';
    const L = { rpm: 1_000_000, concurrency: 50 };
    let n = 0;
    const request = async () => {
      const v = await store.acquire({ key, limits: L, id: `r${n++}`, reserveTokens: 0 });
      assert.ok(v.ok, 'every request is admitted (fail open)');
      await store.commit(v.grant, 1);
    };
    const drive = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        await request();
        await sleep(20);
      }
    };
    await drive(200);
    assert.deepEqual(failures, []);
    const owner = await c.ownerOf(primary.keyBase(key));
    await c.kill(owner);
    await drive(2000);
    assert.deepEqual(failures.slice(0, 1), ['acquire']);
    assert.equal(recovered, 0, 'not reachable while the slot owner is down');
    const restart = c.restart(owner);
    // Requests go on during the restart and after it until the store is back on Redis.
    while (recovered === 0 && n < 2000) {
      await request();
      await sleep(20);
    }
    await restart;
    await drive(1000);
    t.diagnostic(`${n} requests; failures ${failures.length}, recoveries ${recovered}`);
    assert.deepEqual(failures, ['acquire'], 'one "unreachable" for the outage');
    assert.equal(recovered, 1, 'one "reachable again"');
    assert.equal(store.isDown, false);
    // Back on the shared counters: the slot is taken on the restarted master.
    const conc = `${primary.keyBase(key)}:conc`;
    const last = await store.acquire({ key, limits: L, id: 'last', reserveTokens: 0 });
    assert.ok(last.ok);
    assert.deepEqual(await handle.command(conc, ['ZRANGE', conc, '0', '-1']), ['last']);
    await store.release(last.grant, false);
    await store.close();
  });
});
