/**
 * Rate limits on a Redis Cluster (control-plane §1.8 RedisConn `mode: cluster`, data-plane
 * §9.7): a real 3-master cluster from `startRedisCluster()`, two `--role gateway` processes
 * configured with `ratelimit.redis: {mode: cluster, nodes: [...]}`. Every key of one bucket
 * carries the same hash tag, so the atomic scripts run on the node owning the slot and the
 * two processes share one window: a limit of N admits exactly N across both.
 *
 * Then the master owning one key's slot is SIGKILLed for a few seconds of traffic on that key:
 * each gateway fails open and logs the outage once, and recovery once, when that master is
 * back (a probe answered by another master must not count as recovery).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RedisClusterProcess, redisCall, startRedisCluster } from '@aisix/testkit';
import { type AisixProcess, killAll, removeDir, startAisix, tempDir } from './harness.js';
import {
  assertOneWindow,
  assertRetryAfterMinute,
  burst,
  chat,
  type FileKey,
  keysEnv,
  type LogWatch,
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
const downKey: FileKey = {
  name: 'down',
  plaintext: 'sk-e2e-down-0000000000000000',
  rateLimit: { rpm: 1_000_000, concurrency: 10 },
};
const UNREACHABLE = 'redis unreachable';
const REACHABLE = 'redis reachable again';

describe('rate limits on a Redis Cluster shared by 2 gateway processes', () => {
  const dir = tempDir('rl-redis-cluster');
  let cluster: RedisClusterProcess;
  let upstream: UsageUpstream;
  let gateways: AisixProcess[] = [];
  const logs: LogWatch[] = [];
  const started: string[] = [];

  before(async () => {
    cluster = await startRedisCluster();
    upstream = await startUsageUpstream({ totalTokens: 4, delayMs: 10 });
    const keys = [probe, rpmKey, downKey];
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
        logs[i] = log;
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

  test('the master of the key slot down for a while: one "unreachable" and one "reachable again" per gateway, no 5xx', async (t) => {
    // Which master holds the key's counters: the rl keys that appear with its first request.
    const rlKeys = (port: number) =>
      redisCall(port, ['KEYS', 'aisix:rl:*']).then((r) => (Array.isArray(r) ? r.map(String) : []));
    const before = await Promise.all(cluster.ports.map(rlKeys));
    const first = await chat(gateways[0]?.proxyUrl as string, downKey.plaintext);
    assert.equal(first.status, 200, first.body);
    const after = await Promise.all(cluster.ports.map(rlKeys));
    const owner = after.findIndex((ks, i) => ks.some((k) => !before[i]?.includes(k)));
    assert.ok(owner >= 0, 'the key has counters on one master');

    const statuses: number[] = [];
    const drive = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const rs = await Promise.all(gateways.map((g) => chat(g.proxyUrl, downKey.plaintext)));
        statuses.push(...rs.map((r) => r.status));
        await sleep(20);
      }
    };
    await cluster.kill(owner);
    // Several probe periods (1 s) with traffic on the failed slot.
    await drive(3500);
    await Promise.all(logs.map((l) => l.waitFor(UNREACHABLE, 1000)));
    const restarted = cluster.restart(owner);
    await drive(500);
    await restarted;
    const done = Promise.all(logs.map((l) => l.waitFor(REACHABLE, 15_000)));
    let back = false;
    void done.then(() => {
      back = true;
    });
    while (!back) await drive(200);
    await done;
    await drive(1000);
    const bad = statuses.filter((s) => s !== 200);
    t.diagnostic(
      `${statuses.length} requests during and after the outage; "${UNREACHABLE}" lines ${logs
        .map((l) => l.count(UNREACHABLE))
        .join('/')}, "${REACHABLE}" lines ${logs.map((l) => l.count(REACHABLE)).join('/')}`,
    );
    assert.deepEqual(bad, [], 'every request was served (fail open)');
    for (const [i, l] of logs.entries()) {
      assert.equal(l.count(UNREACHABLE), 1, `gateway-${i + 1}: one "${UNREACHABLE}" line for the outage`);
      assert.equal(l.count(REACHABLE), 1, `gateway-${i + 1}: one "${REACHABLE}" line`);
    }
  });
});
