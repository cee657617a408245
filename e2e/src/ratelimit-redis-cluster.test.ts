/**
 * Rate limits on a Redis Cluster (control-plane §1.8 RedisConn `mode: cluster`, data-plane
 * §9.7): a real 3-master cluster from `startRedisCluster()`, two `--role gateway` processes
 * configured with `ratelimit.redis: {mode: cluster, nodes: [...]}`. Every key of one bucket
 * carries the same hash tag, so the atomic scripts run on the node owning the slot and the
 * two processes share one window: a limit of N admits exactly N across both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RedisClusterProcess, startRedisCluster } from '@aisix/testkit';
import { type AisixProcess, killAll, removeDir, startAisix, tempDir } from './harness.js';
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

const RPM = 20;
const REQUESTS = 60;

const probe: FileKey = { name: 'probe', plaintext: 'sk-e2e-probe-0000000000000000' };
const rpmKey: FileKey = { name: 'rpm', plaintext: 'sk-e2e-rpm-00000000000000000', rateLimit: { rpm: RPM } };

describe('rate limits on a Redis Cluster shared by 2 gateway processes', () => {
  const dir = tempDir('rl-redis-cluster');
  let cluster: RedisClusterProcess;
  let upstream: UsageUpstream;
  let gateways: AisixProcess[] = [];
  const started: string[] = [];

  before(async () => {
    cluster = await startRedisCluster();
    upstream = await startUsageUpstream({ totalTokens: 4, delayMs: 10 });
    const keys = [probe, rpmKey];
    const resources = writeResources(dir, upstream.apiBase, keys);
    // Each gateway knows a different single seed node: the rest is discovered.
    gateways = await Promise.all(
      [0, 1].map(async (i) => {
        const config = writeGatewayConfig(
          dir,
          `gateway-${i + 1}`,
          resources,
          redisRateLimitYaml({ nodes: [cluster.nodes[i] as string] }),
        );
        const g = await startAisix({
          name: `gateway-${i + 1}`,
          dir,
          role: 'gateway',
          configPath: config,
          env: keysEnv(keys),
        });
        const log = watchLog(g);
        await log.waitFor('aisix started', 20_000);
        started.push(log.lines().find((l) => l.includes('aisix started')) ?? '');
        return g;
      }),
    );
    await Promise.all(gateways.map((g) => waitServing(g, probe.plaintext)));
  });

  after(async () => {
    await killAll(gateways);
    await upstream?.close();
    await cluster?.stop();
    removeDir(dir);
  });

  test(`rpm ${RPM}, ${REQUESTS} concurrent requests over 2 gateways: exactly ${RPM} admitted`, async (t) => {
    for (const line of started) {
      const backends = (JSON.parse(line) as { backends?: { ratelimit?: string } }).backends;
      assert.match(
        backends?.ratelimit ?? '',
        /^redis .*cluster/,
        `the startup line names the cluster: ${line}`,
      );
    }
    const before = upstream.calls();
    const minute = await roomInMinute(5);
    const results = await burst(gateways, REQUESTS, rpmKey.plaintext);
    sameMinute(minute, 'the burst');
    const counts = tally(results);
    const perGateway = gateways.map(
      (_, i) => results.filter((r) => r.target === i && r.status === 200).length,
    );
    t.diagnostic(
      `${REQUESTS} requests: ${JSON.stringify(counts)}; admitted per gateway ${perGateway.join('/')}`,
    );
    assert.deepEqual(counts, { 200: RPM, 429: REQUESTS - RPM }, `statuses: ${JSON.stringify(counts)}`);
    assert.equal(upstream.calls() - before, RPM);
    assertOneWindow(results, RPM, 'the burst');
    assertRetryAfterMinute(results, 'the burst');
  });
});
