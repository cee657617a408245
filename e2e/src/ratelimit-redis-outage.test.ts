/**
 * Redis killed under load (data-plane §9.7, docs/rate-limits.md): three `--role gateway`
 * processes on one real redis-server, a steady stream of requests to all three, then the Redis
 * server is SIGKILLed and later restarted on the same port. The contract: no request fails
 * (fail open), the limits go on being enforced by each process's own counters (a limit of N is
 * N per replica during the outage), each process logs ONE `redis unreachable` warning for the
 * outage and counts every failed call in `aisix_redis_failures_total{operation}`, and once
 * Redis answers again each logs `redis reachable again` and the limit is cluster-wide again.
 *
 * Every phase uses its own caller key, so each burst starts from empty counters whatever the
 * window; each burst starts with enough of its minute left to be counted in one window.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisProcess, startRedis, startTcpProxy, type TcpProxy } from '@aisix/testkit';
import {
  type AisixProcess,
  killAll,
  ms,
  percentile,
  removeDir,
  startAisix,
  tempDir,
  waitUntil,
} from './harness.js';
import {
  assertOneWindow,
  burst,
  chat,
  type FileKey,
  keysEnv,
  type LogWatch,
  metricValue,
  redisRateLimitYaml,
  roomInMinute,
  sameMinute,
  startUsageUpstream,
  tally,
  type UsageUpstream,
  waitServing,
  watchLog,
  writeGatewayConfig,
  writeResources,
} from './limits-harness.js';

const RPM = 10;
const PER_REPLICA = 15;
const UNREACHABLE = 'redis unreachable';
const REACHABLE = 'redis reachable again';

const key = (name: string, rpm: number): FileKey => ({
  name,
  plaintext: `sk-e2e-${name}-${'0'.repeat(24)}`,
  rateLimit: { rpm },
});
const probe: FileKey = { name: 'probe', plaintext: 'sk-e2e-probe-0000000000000000' };
/** The steady load: limited (so every request goes through Redis) but never refused. */
const steadyKey = key('steady', 1_000_000);
const beforeKey = key('before', RPM);
const duringKey = key('during', RPM);
const afterKey = key('after', RPM);

interface Shot {
  at: number;
  target: number;
  status: number;
  latency: number;
}

describe('Redis outage under load: 3 gateways fail open to local counters and come back', () => {
  const dir = tempDir('rl-outage');
  let redis: RedisProcess;
  let upstream: UsageUpstream;
  let gateways: AisixProcess[] = [];
  let logs: LogWatch[] = [];

  before(async () => {
    redis = await startRedis();
    upstream = await startUsageUpstream({ totalTokens: 4, delayMs: 5 });
    const keys = [probe, steadyKey, beforeKey, duringKey, afterKey];
    const resources = writeResources(dir, upstream.apiBase, keys);
    const config = writeGatewayConfig(dir, 'gateway', resources, redisRateLimitYaml({ url: redis.url }));
    gateways = await Promise.all(
      [1, 2, 3].map((n) =>
        startAisix({ name: `gateway-${n}`, dir, role: 'gateway', configPath: config, env: keysEnv(keys) }),
      ),
    );
    logs = gateways.map((g) => watchLog(g));
    await Promise.all(gateways.map((g) => waitServing(g, probe.plaintext)));
  });

  after(async () => {
    await killAll(gateways);
    await upstream?.close();
    await redis?.stop();
    removeDir(dir);
  });

  test('SIGKILL Redis mid-run: zero failures, per-replica limits, one warning, recovery', async (t) => {
    // The steady load: one sequential caller per replica, a request every ~10 ms each.
    const shots: Shot[] = [];
    let running = true;
    const loops = gateways.map(async (g, target) => {
      while (running) {
        const t0 = performance.now();
        let status = 0;
        try {
          status = (await chat(g.proxyUrl, steadyKey.plaintext)).status;
        } catch {
          status = -1; // a transport error: counted as a failure below
        }
        shots.push({ at: t0, target, status, latency: performance.now() - t0 });
        await sleep(10);
      }
    });
    const stopLoad = async () => {
      running = false;
      await Promise.all(loops);
    };

    try {
      await sleep(500);

      // 1. Redis up: one cluster-wide limit.
      let minute = await roomInMinute(5);
      const phaseA = await burst(gateways, 3 * PER_REPLICA, beforeKey.plaintext);
      sameMinute(minute, 'burst A');
      assert.deepEqual(
        tally(phaseA),
        { 200: RPM, 429: 3 * PER_REPLICA - RPM },
        'Redis up: one shared window',
      );

      // 2. SIGKILL Redis; the steady load runs into it on every replica.
      const tKill = performance.now();
      await redis.kill('SIGKILL');
      const detected = await Promise.all(logs.map((l) => l.waitFor(UNREACHABLE, 10_000)));

      // 3. During the outage: each replica enforces the limit with its own counters.
      minute = await roomInMinute(5);
      const phaseB = await burst(gateways, 3 * PER_REPLICA, duringKey.plaintext);
      sameMinute(minute, 'burst B');
      const perReplica = gateways.map((_, i) => tally(phaseB.filter((r) => r.target === i)));
      for (const [i, c] of perReplica.entries()) {
        assert.deepEqual(c, { 200: RPM, 429: PER_REPLICA - RPM }, `gateway-${i + 1} during the outage`);
        assertOneWindow(
          phaseB.filter((r) => r.target === i),
          RPM,
          `gateway-${i + 1} during the outage`,
        );
      }
      for (const r of phaseB.filter((x) => x.status === 429)) {
        assert.ok(Number(r.headers['retry-after']) >= 1, 'a local-counter refusal carries Retry-After');
      }
      // Let the outage last a few probe periods: still one warning per process.
      await sleep(Math.max(0, 3000 - (performance.now() - tKill)));
      const failures = await Promise.all(
        gateways.map((g) => metricValue(g, 'aisix_redis_failures_total', { operation: 'ratelimit_acquire' })),
      );
      for (const [i, f] of failures.entries()) {
        assert.ok(
          f > 0,
          `gateway-${i + 1}: aisix_redis_failures_total{operation="ratelimit_acquire"} = ${f}`,
        );
      }
      const outageShots = shots.filter((s) => s.at >= tKill);

      // 4. Redis back (empty, same port): each replica returns to the shared counters.
      const tRestart = performance.now();
      await redis.restart();
      const tUp = performance.now();
      const recovered = await Promise.all(logs.map((l) => l.waitFor(REACHABLE, 10_000)));
      minute = await roomInMinute(5);
      const phaseC = await burst(gateways, 3 * PER_REPLICA, afterKey.plaintext);
      sameMinute(minute, 'burst C');
      assert.deepEqual(
        tally(phaseC),
        { 200: RPM, 429: 3 * PER_REPLICA - RPM },
        'Redis back: one shared window again',
      );
      assertOneWindow(phaseC, RPM, 'Redis back');
      await sleep(300);
      await stopLoad();

      const bad = shots.filter((s) => s.status !== 200);
      const lat = outageShots.map((s) => s.latency).sort((a, b) => a - b);
      t.diagnostic(
        `steady load: ${shots.length} requests, ${bad.length} not 200; during the outage ${outageShots.length} requests, ` +
          `latency p50 ${ms(percentile(lat, 50))}, p99 ${ms(percentile(lat, 99))}, max ${ms(percentile(lat, 100))}`,
      );
      t.diagnostic(
        `kill → "${UNREACHABLE}" logged: ${detected.map((d) => ms(d - tKill)).join(', ')}; ` +
          `failed ratelimit_acquire calls: ${failures.join(', ')}`,
      );
      t.diagnostic(
        `restart issued → Redis answering: ${ms(tUp - tRestart)}; Redis answering → "${REACHABLE}": ` +
          `${recovered.map((d) => ms(d - tUp)).join(', ')}`,
      );
      t.diagnostic(
        `admitted: before ${tally(phaseA)[200]}, during ${perReplica.map((c) => c[200]).join('+')}, after ${tally(phaseC)[200]} (rpm ${RPM})`,
      );
      assert.deepEqual(bad.slice(0, 5), [], `${bad.length} steady requests were not answered 200`);
      for (const [i, l] of logs.entries()) {
        assert.equal(l.count(UNREACHABLE), 1, `gateway-${i + 1}: one "${UNREACHABLE}" line for the outage`);
        assert.equal(l.count(REACHABLE), 1, `gateway-${i + 1}: one "${REACHABLE}" line`);
        const line = l.lines().find((x) => x.includes(UNREACHABLE)) ?? '';
        assert.match(line, /"level":40/, `gateway-${i + 1}: the outage line is a warning: ${line}`);
      }
    } finally {
      await stopLoad();
    }
  });
});

/**
 * A network cut between a gateway and a Redis that keeps running (and keeps its data): the
 * concurrency slots taken on Redis before the cut belong to requests that end during it. Their
 * release cannot reach Redis then; once Redis answers again the slots must be free (docs:
 * a slot is held until its response ends; only a crashed holder's slot waits for
 * `concurrency_ttl_secs`), not held for the 300 s TTL, which would lock the key out.
 */
describe('Redis unreachable for a moment (network cut): slots taken before the cut are freed after it', () => {
  const dir = tempDir('rl-blip');
  const SLOW_MS = 1500;
  const concKey: FileKey = {
    name: 'conc',
    plaintext: 'sk-e2e-conc-0000000000000000',
    rateLimit: { concurrency: 2 },
  };
  let redis: RedisProcess;
  let proxy: TcpProxy;
  let upstream: UsageUpstream;
  let gateway: AisixProcess;
  let log: LogWatch;

  before(async () => {
    redis = await startRedis();
    proxy = await startTcpProxy(redis.port);
    upstream = await startUsageUpstream({ totalTokens: 4, delayMs: SLOW_MS });
    const keys = [probe, concKey];
    const resources = writeResources(dir, upstream.apiBase, keys);
    const config = writeGatewayConfig(
      dir,
      'gateway',
      resources,
      redisRateLimitYaml({ url: `redis://127.0.0.1:${proxy.port}` }),
    );
    gateway = await startAisix({
      name: 'gateway',
      dir,
      role: 'gateway',
      configPath: config,
      env: keysEnv(keys),
    });
    log = watchLog(gateway);
    await waitServing(gateway, probe.plaintext);
  });

  after(async () => {
    await killAll([gateway]);
    await upstream?.close();
    await proxy?.close();
    await redis?.stop();
    removeDir(dir);
  });

  test('concurrency 2: two requests in flight across the cut; after it two fit again, the third is refused', async (t) => {
    const send = () => chat(gateway.proxyUrl, concKey.plaintext);
    /** Resolves once `n` more requests reached the upstream (they hold their slots). */
    const upstreamHas = (from: number, n: number) =>
      waitUntil(
        `${n} requests at the upstream`,
        async () => (upstream.calls() - from >= n ? true : undefined),
        {
          timeoutMs: 10_000,
          intervalMs: 10,
          alive: [gateway],
        },
      );
    let from = upstream.calls();
    const holding = [send(), send()];
    await upstreamHas(from, 2);
    const third = await send();
    assert.equal(third.status, 429, 'both slots are taken on Redis');
    assert.match(third.body, /concurrency limit exceeded/);
    assert.equal(third.headers['retry-after'], undefined, 'no Retry-After for concurrency');

    proxy.cut();
    // Served from the local counters while Redis is out of reach (fail open).
    const during = await send();
    assert.equal(during.status, 200, during.body);
    await log.waitFor(UNREACHABLE, 5000);
    assert.deepEqual(
      (await Promise.all(holding)).map((r) => r.status),
      [200, 200],
      'the requests in flight when Redis went away are served',
    );

    proxy.restore();
    const tRestore = performance.now();
    const back = await log.waitFor(REACHABLE, 10_000);
    t.diagnostic(`network restored → "${REACHABLE}": ${ms(back - tRestore)}`);
    from = upstream.calls();
    const again = [send(), send()];
    await upstreamHas(from, 2);
    const overflow = await send();
    const statuses = (await Promise.all(again)).map((r) => r.status);
    assert.deepEqual(statuses, [200, 200], 'the slots of the requests that ended during the cut are free');
    assert.equal(overflow.status, 429, 'and the limit holds again on Redis');
    assert.equal(log.count(UNREACHABLE), 1);
  });
});
