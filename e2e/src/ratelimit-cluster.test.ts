/**
 * Cluster-wide rate limits on Redis (data-plane §9.7, docs/rate-limits.md "Where counters
 * live"): three `--role gateway` processes reading one resources file (same key ids on every
 * host), `ratelimit.backend: redis` on one real redis-server, a mock upstream reporting a
 * fixed usage. What only real processes show: one limit of N is N across the replicas, not
 * N per replica, and concurrent requests on several replicas cannot overshoot a token limit by
 * more than about one request when they declare `max_tokens`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type RedisProcess, startRedis } from '@aisix/testkit';
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
  writeGatewayConfig,
  writeResources,
} from './limits-harness.js';

const RPM = 100;
const BURST = 600;
/** tpm limit N and the usage T the upstream reports for every request. */
const TPM = 1000;
const USAGE = 50;
const TPM_REQUESTS = 150;

const probe: FileKey = { name: 'probe', plaintext: 'sk-e2e-probe-0000000000000000' };
const rpmKey: FileKey = { name: 'rpm', plaintext: 'sk-e2e-rpm-00000000000000000', rateLimit: { rpm: RPM } };
const tpmKey: FileKey = { name: 'tpm', plaintext: 'sk-e2e-tpm-00000000000000000', rateLimit: { tpm: TPM } };
const tpmBare: FileKey = {
  name: 'tpm-bare',
  plaintext: 'sk-e2e-tpm-bare-000000000000',
  rateLimit: { tpm: TPM },
};

describe('rate limits on Redis across 3 gateway processes', () => {
  const dir = tempDir('rl-cluster');
  let redis: RedisProcess;
  let upstream: UsageUpstream;
  let gateways: AisixProcess[] = [];

  before(async () => {
    redis = await startRedis();
    upstream = await startUsageUpstream({ totalTokens: USAGE, delayMs: 20 });
    const keys = [probe, rpmKey, tpmKey, tpmBare];
    const resources = writeResources(dir, upstream.apiBase, keys);
    const config = writeGatewayConfig(dir, 'gateway', resources, redisRateLimitYaml({ url: redis.url }));
    gateways = await Promise.all(
      [1, 2, 3].map((n) =>
        startAisix({ name: `gateway-${n}`, dir, role: 'gateway', configPath: config, env: keysEnv(keys) }),
      ),
    );
    await Promise.all(gateways.map((g) => waitServing(g, probe.plaintext)));
  });

  after(async () => {
    await killAll(gateways);
    await upstream?.close();
    await redis?.stop();
    removeDir(dir);
  });

  test(`rpm ${RPM}, ${BURST} concurrent requests over 3 replicas: exactly ${RPM} admitted`, async (t) => {
    const before = upstream.calls();
    const minute = await roomInMinute(10);
    const t0 = performance.now();
    const results = await burst(gateways, BURST, rpmKey.plaintext);
    const took = performance.now() - t0;
    sameMinute(minute, 'the rpm burst');
    const counts = tally(results);
    const perReplica = gateways.map(
      (_, i) => results.filter((r) => r.target === i && r.status === 200).length,
    );
    t.diagnostic(
      `${BURST} requests in ${took.toFixed(0)} ms: ${JSON.stringify(counts)}; admitted per replica ${perReplica.join('/')}`,
    );
    assert.deepEqual(counts, { 200: RPM, 429: BURST - RPM }, `statuses: ${JSON.stringify(counts)}`);
    assert.equal(upstream.calls() - before, RPM, 'the upstream saw exactly the admitted requests');
    assertRetryAfterMinute(results, 'the rpm burst');
    assertOneWindow(results, RPM, 'the rpm burst');
    for (const r of results.filter((x) => x.status === 429)) {
      const err = (JSON.parse(r.body) as { error: { type: string; message: string } }).error;
      assert.equal(err.type, 'rate_limit_exceeded');
      assert.match(err.message, /request limit exceeded/);
    }
  });

  test(`tpm ${TPM}, usage ${USAGE} per request, max_tokens ${USAGE}: overshoot ≤ ${3 * USAGE} tokens`, async (t) => {
    const minute = await roomInMinute(10);
    const results = await burst(gateways, TPM_REQUESTS, tpmKey.plaintext, { max_tokens: USAGE });
    sameMinute(minute, 'the tpm burst');
    const counts = tally(results);
    const admitted = counts[200] ?? 0;
    const tokens = admitted * USAGE;
    t.diagnostic(
      `with max_tokens ${USAGE}: ${TPM_REQUESTS} concurrent requests → ${JSON.stringify(counts)}; ` +
        `${tokens} tokens admitted against tpm ${TPM} (overshoot ${tokens - TPM})`,
    );
    assert.equal(admitted + (counts[429] ?? 0), TPM_REQUESTS, `statuses: ${JSON.stringify(counts)}`);
    // Bound: at most one request's tokens over the limit per replica (N + 3T), and at least
    // the N/T requests the limit allows (each reserves T + 1: the first N/T always fit).
    assert.ok(tokens <= TPM + 3 * USAGE, `${tokens} tokens admitted: over ${TPM} + 3 × ${USAGE}`);
    assert.ok(admitted >= TPM / USAGE, `only ${admitted} admitted, the limit allows ${TPM / USAGE}`);
    for (const r of results.filter((x) => x.status === 429)) {
      assert.match(r.body, /token limit exceeded/);
      assert.ok(Number(r.headers['retry-after']) >= 1, 'a token refusal carries Retry-After');
    }
  });

  test(`tpm ${TPM} without max_tokens: the overshoot is measured (reported, not asserted)`, async (t) => {
    const minute = await roomInMinute(10);
    const results = await burst(gateways, TPM_REQUESTS, tpmBare.plaintext);
    sameMinute(minute, 'the tpm burst without max_tokens');
    const counts = tally(results);
    const admitted = counts[200] ?? 0;
    t.diagnostic(
      `without max_tokens: ${TPM_REQUESTS} concurrent requests → ${JSON.stringify(counts)}; ` +
        `${admitted * USAGE} tokens admitted against tpm ${TPM} (overshoot ${admitted * USAGE - TPM})`,
    );
    assert.equal(admitted + (counts[429] ?? 0), TPM_REQUESTS, `statuses: ${JSON.stringify(counts)}`);
  });
});
