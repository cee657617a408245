/**
 * One pod, several workers, one limit (docs/rate-limits.md "Where counters live"): with
 * `proxy.workers: 2` on the memory backend the node:cluster workers share the proxy port and
 * the primary holds the counters, so a limit of N is N for the pod, not N per worker. A real
 * `aisix` process reading a resources file (the embedded store cannot be shared by workers).
 *
 * On the Redis backend the same pod-shared counters are what the workers fall back to while
 * Redis is unreachable: during an outage the pod still enforces N, not N per worker.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileResourceId } from '@aisix/core';
import { type RedisProcess, startRedis } from '@aisix/testkit';
import { type AisixProcess, killAll, removeDir, startAisix, tempDir, waitUntil } from './harness.js';
import {
  assertOneWindow,
  assertRetryAfterMinute,
  burst,
  type FileKey,
  keysEnv,
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

const RPM = 100;
const BURST = 600;

/** The id the resources file gives the key: what its access log lines carry. */
const rpmKeyId = fileResourceId('api_keys', 'rpm');
const probe: FileKey = { name: 'probe', plaintext: 'sk-e2e-probe-0000000000000000' };
const rpmKey: FileKey = { name: 'rpm', plaintext: 'sk-e2e-rpm-00000000000000000', rateLimit: { rpm: RPM } };

describe('rate limits in one process with proxy.workers: 2 (memory backend)', () => {
  const dir = tempDir('rl-workers');
  let upstream: UsageUpstream;
  let pod: AisixProcess;
  let log: ReturnType<typeof watchLog>;

  before(async () => {
    upstream = await startUsageUpstream({ totalTokens: 4, delayMs: 20 });
    const keys = [probe, rpmKey];
    const resources = writeResources(dir, upstream.apiBase, keys);
    const config = writeGatewayConfig(dir, 'pod', resources, 'proxy:\n  workers: 2\n');
    pod = await startAisix({ name: 'pod', dir, role: 'gateway', configPath: config, env: keysEnv(keys) });
    log = watchLog(pod);
    await log.waitFor('all gateway workers started', 30_000);
    await waitServing(pod, probe.plaintext);
  });

  after(async () => {
    await killAll([pod]);
    await upstream?.close();
    removeDir(dir);
  });

  test(`rpm ${RPM}, ${BURST} concurrent requests on the pod: exactly ${RPM} admitted`, async (t) => {
    const before = upstream.calls();
    const logFrom = log.lines().length;
    const minute = await roomInMinute(10);
    const t0 = performance.now();
    const results = await burst([pod], BURST, rpmKey.plaintext);
    const took = performance.now() - t0;
    sameMinute(minute, 'the burst');
    const counts = tally(results);
    // Which worker answered what, from the access log (a worker's lines carry its slot).
    const access = await waitUntil(
      `${BURST} access log lines`,
      async () => {
        const l = log
          .lines()
          .slice(logFrom)
          .filter((x) => x.includes(`"api_key_id":"${rpmKeyId}"`));
        return l.length >= BURST ? l : undefined;
      },
      { timeoutMs: 10_000, alive: [pod] },
    );
    const byWorker = [1, 2].map((w) => {
      const mine = access.filter((l) => l.includes(`"worker":${w},`));
      return { served: mine.length, admitted: mine.filter((l) => l.includes('"status":200')).length };
    });
    t.diagnostic(
      `${BURST} requests on 2 workers in ${took.toFixed(0)} ms: ${JSON.stringify(counts)}; ` +
        `per worker (requests/admitted): ${byWorker.map((w) => `${w.served}/${w.admitted}`).join(', ')}`,
    );
    // Both workers took part: per-worker counters would have admitted up to 2 × RPM.
    for (const [i, w] of byWorker.entries())
      assert.ok(w.served > 0, `worker ${i + 1} served none of the burst`);
    assert.deepEqual(counts, { 200: RPM, 429: BURST - RPM }, `statuses: ${JSON.stringify(counts)}`);
    assert.equal(upstream.calls() - before, RPM, 'the upstream saw exactly the admitted requests');
    assertRetryAfterMinute(results, 'the burst');
    assertOneWindow(results, RPM, 'the burst');
  });
});

describe('proxy.workers: 2 on Redis: the pod-shared counters are the fallback during an outage', () => {
  const dir = tempDir('rl-workers-redis');
  const LIMIT = 20;
  const REQUESTS = 60;
  const upKey: FileKey = { name: 'up', plaintext: 'sk-e2e-up-000000000000000000', rateLimit: { rpm: LIMIT } };
  const downKey: FileKey = {
    name: 'down',
    plaintext: 'sk-e2e-down-0000000000000000',
    rateLimit: { rpm: LIMIT },
  };
  let redis: RedisProcess;
  let upstream: UsageUpstream;
  let pod: AisixProcess;
  let log: ReturnType<typeof watchLog>;

  before(async () => {
    redis = await startRedis();
    upstream = await startUsageUpstream({ totalTokens: 4, delayMs: 20 });
    const keys = [probe, upKey, downKey];
    const resources = writeResources(dir, upstream.apiBase, keys);
    const config = writeGatewayConfig(
      dir,
      'pod',
      resources,
      `proxy:\n  workers: 2\n${redisRateLimitYaml({ url: redis.url })}`,
    );
    pod = await startAisix({ name: 'pod', dir, role: 'gateway', configPath: config, env: keysEnv(keys) });
    log = watchLog(pod);
    await log.waitFor('all gateway workers started', 30_000);
    await waitServing(pod, probe.plaintext);
  });

  after(async () => {
    await killAll([pod]);
    await upstream?.close();
    await redis?.stop();
    removeDir(dir);
  });

  test(`rpm ${LIMIT}: exactly ${LIMIT} admitted with Redis up, and still ${LIMIT} for the pod with Redis down`, async (t) => {
    let minute = await roomInMinute(5);
    const upResults = await burst([pod], REQUESTS, upKey.plaintext);
    const up = tally(upResults);
    sameMinute(minute, 'the burst with Redis up');
    assertOneWindow(upResults, LIMIT, 'Redis up');
    assert.deepEqual(up, { 200: LIMIT, 429: REQUESTS - LIMIT }, 'Redis up');

    await redis.kill('SIGKILL');
    minute = await roomInMinute(5);
    const downResults = await burst([pod], REQUESTS, downKey.plaintext);
    const down = tally(downResults);
    sameMinute(minute, 'the burst with Redis down');
    assertOneWindow(downResults, LIMIT, 'Redis down');
    const warnings = log.lines().filter((l) => l.includes('redis unreachable'));
    t.diagnostic(
      `Redis up: ${JSON.stringify(up)}; Redis down: ${JSON.stringify(down)}; ${warnings.length} warning line(s)`,
    );
    assert.deepEqual(
      down,
      { 200: LIMIT, 429: REQUESTS - LIMIT },
      'Redis down: one pod-wide window, not one per worker',
    );
    // One warning per worker process that met the outage, never more.
    assert.ok(warnings.length >= 1 && warnings.length <= 2, warnings.join('\n'));
    for (const w of [1, 2]) {
      assert.ok(warnings.filter((l) => l.includes(`"worker":${w},`)).length <= 1, `worker ${w}: one warning`);
    }
  });
});
