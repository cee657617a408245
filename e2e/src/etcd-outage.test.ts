/**
 * etcd outage under steady traffic (issue "Gateway node"): a private etcd (this test
 * SIGKILLs and restarts it, so it cannot be the run's shared one), one `--role admin` process
 * and three `--role gateway` replicas. Chat completions flow round-robin across the replicas
 * through the official openai SDK at a fixed rate while etcd is killed, kept down for 30 s
 * and restarted. Every request must succeed on the last configuration; the replicas must
 * notice the outage (source disconnected), stay ready, keep their config hash, and catch up
 * after the restart: a new admin write reaches all three. Catch-up time is measured because
 * the watch loop's reconnect backoff (1 s doubling, capped at 60 s; decision 4) decides it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EtcdProcess, startEtcd } from '@aisix/testkit';
import OpenAI from 'openai';
import {
  AdminClient,
  type AisixProcess,
  chatStatus,
  httpGet,
  type MockUpstream,
  removeDir,
  servedModels,
  startAisix,
  startMockUpstream,
  statusConfig,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

const RATE_PER_SEC = 30;
/**
 * 30 s as the issue asks. AISIX_E2E_OUTAGE_MS changes it for manual measurements of the
 * catch-up delay (the reconnect schedule is 1, 3, 7, 15, 31, 63 s after the failure).
 */
const OUTAGE_MS = Number(process.env.AISIX_E2E_OUTAGE_MS ?? 30_000);
const PREFIX = '/aisix-outage';

/** `aisix_config_reload_failures_total{reason="fetch"}` of a replica: failed load/watch cycles. */
async function fetchFailureCount(r: AisixProcess): Promise<number> {
  const text = (await httpGet(`${r.metricsUrl}/metrics`)).body;
  const m = /^aisix_config_reload_failures_total\{reason="fetch"\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

interface Outcome {
  at: number;
  replica: string;
  error?: string;
}

describe('etcd killed for 30 s under steady traffic', () => {
  const dir = tempDir('outage');
  let etcd: EtcdProcess;
  let upstream: MockUpstream;
  let admin: AisixProcess;
  let replicas: AisixProcess[] = [];
  let api: AdminClient;
  let pkId = '';
  let callerKey = '';

  before(async () => {
    etcd = await startEtcd();
    upstream = await startMockUpstream();
    const cluster = { endpoint: etcd.endpoint, prefix: PREFIX };
    admin = await startAisix({ name: 'admin', dir, role: 'admin', etcd: cluster });
    replicas = await Promise.all(
      [1, 2, 3].map((n) => startAisix({ name: `gateway-${n}`, dir, role: 'gateway', etcd: cluster })),
    );
    await waitStatus(admin, `${admin.adminUrl}/readyz`, 200);
    await Promise.all(replicas.map((r) => waitStatus(r, `${r.proxyUrl}/readyz`, 200)));
    api = new AdminClient(admin.adminUrl);
    pkId = (
      await api.create('provider_keys', {
        display_name: 'mock',
        provider: 'openai',
        api_key: 'sk-upstream-outage',
        api_base: upstream.apiBase,
      })
    ).id;
    await api.create('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: pkId,
    });
    const key = await api.create('api_keys', { display_name: 'traffic', allowed_models: ['*'] });
    assert.ok(key.plaintext);
    callerKey = key.plaintext;
    // The caller key was written last: once it gets a 200 on a replica, that replica has it all.
    await Promise.all(
      replicas.map((r) =>
        waitUntil(
          `${r.name} serves "chat" to the caller key`,
          async () => ((await chatStatus(r, callerKey, 'chat')).status === 200 ? true : undefined),
          { timeoutMs: 10_000, alive: [r] },
        ),
      ),
    );
  });

  after(async () => {
    await Promise.all([admin, ...replicas].map((p) => p?.kill()));
    await upstream?.close();
    await etcd?.stop();
    removeDir(dir);
  });

  test('zero failed requests; replicas keep the last config and catch up after the restart', async (t) => {
    const clients = replicas.map(
      (r) => new OpenAI({ apiKey: callerKey, baseURL: `${r.proxyUrl}/v1`, maxRetries: 0, timeout: 10_000 }),
    );
    const outcomes: Outcome[] = [];
    const inflight = new Set<Promise<void>>();
    let stopTraffic = false;
    const t0 = performance.now();
    const traffic = (async () => {
      const interval = 1000 / RATE_PER_SEC;
      let next = performance.now();
      for (let n = 0; !stopTraffic; n++) {
        const i = n % replicas.length;
        const replica = replicas[i] as AisixProcess;
        const client = clients[i] as OpenAI;
        const p = client.chat.completions
          .create({ model: 'chat', messages: [{ role: 'user', content: `ping ${n}` }] })
          .then(
            (res) => {
              const content = res.choices[0]?.message.content;
              outcomes.push(
                content === 'pong' && res.model === 'chat'
                  ? { at: performance.now(), replica: replica.name }
                  : {
                      at: performance.now(),
                      replica: replica.name,
                      error: `unexpected body ${JSON.stringify(res)}`,
                    },
              );
            },
            (err: unknown) => {
              outcomes.push({ at: performance.now(), replica: replica.name, error: String(err) });
            },
          )
          .finally(() => inflight.delete(p));
        inflight.add(p);
        next += interval;
        await sleep(Math.max(0, next - performance.now()));
      }
    })();

    try {
      await sleep(3000);
      const before = await Promise.all(replicas.map((r) => statusConfig(r)));
      for (const [i, s] of before.entries()) {
        assert.equal(s.source.connected, true, `${replicas[i]?.name} connected before the outage`);
      }
      const hashes = before.map((s) => s.applied?.config_hash);
      assert.equal(new Set(hashes).size, 1, 'all replicas serve the same configuration');

      await etcd.kill('SIGKILL');
      const tKill = performance.now();

      // Every replica notices: its config source goes disconnected (and it says so).
      await Promise.all(
        replicas.map((r) =>
          waitUntil(
            `${r.name} reports the etcd source disconnected`,
            async () => ((await statusConfig(r)).source.connected === false ? true : undefined),
            { timeoutMs: 15_000, intervalMs: 100, alive: [r] },
          ),
        ),
      );
      const detectMs = performance.now() - tKill;

      // An admin write while etcd is down fails cleanly (and must never show up later).
      const tWrite = performance.now();
      const during = await api.raw('POST', '/models', {
        display_name: 'during-outage',
        provider: 'openai',
        model_name: 'gpt-mock',
        provider_key_id: pkId,
      });
      const duringMs = performance.now() - tWrite;
      assert.equal(during.status, 500, `admin write with etcd down: ${during.status} ${during.body}`);
      assert.match(during.body, /"error_msg":"store error/);

      await sleep(Math.max(0, OUTAGE_MS / 2 - (performance.now() - tKill)));
      // Mid-outage: still ready, still the same configuration, still disconnected.
      for (const [i, r] of replicas.entries()) {
        const s = await statusConfig(r);
        assert.equal(s.source.connected, false, `${r.name} mid-outage`);
        assert.equal(s.state, 'synced', `${r.name} mid-outage state`);
        assert.equal(s.applied?.config_hash, hashes[i], `${r.name} keeps the last configuration`);
        assert.equal((await httpGet(`${r.proxyUrl}/readyz`)).status, 200, `${r.name} stays ready`);
      }

      await sleep(Math.max(0, OUTAGE_MS - (performance.now() - tKill)));
      // Catch-up: the replicas reconnect on their watch loop's next retry. Polled from the
      // moment etcd starts again, so a reconnect during etcd's own start-up is not hidden
      // behind restart() (it shows as a negative time).
      const tRestart = performance.now();
      const reconnecting = Promise.all(
        replicas.map(async (r) => {
          await waitUntil(
            `${r.name} reconnects to etcd`,
            async () => ((await statusConfig(r)).source.connected === true ? true : undefined),
            { timeoutMs: 90_000, intervalMs: 50, alive: [r] },
          );
          return performance.now();
        }),
      );
      await etcd.restart();
      const tUp = performance.now();
      const outageMs = tUp - tKill;

      // What an operator sees: the first admin write after etcd is back (retried until the
      // admin process's etcd client accepts it), and how long until every replica serves it.
      const written = await waitUntil(
        'an admin write succeeds after the restart',
        async () => {
          const r = await api.raw('POST', '/models', {
            display_name: 'after-outage',
            provider: 'openai',
            model_name: 'gpt-after',
            provider_key_id: pkId,
          });
          return r.status === 200 ? r : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100, alive: [admin] },
      );
      assert.ok(written);
      const tWritten = performance.now();
      const acceptedMs = tWritten - tUp;
      await Promise.all(
        replicas.map((r) =>
          waitUntil(
            `${r.name} serves the post-outage alias`,
            async () => {
              const m = await servedModels(r, callerKey);
              return Array.isArray(m) && m.includes('after-outage') ? true : undefined;
            },
            // The reconnect backoff is capped at 60 s (decision 4); a little over that.
            { timeoutMs: 75_000, intervalMs: 20, alive: [r] },
          ),
        ),
      );
      const propagateMs = performance.now() - tWritten;
      const reconnect = (await reconnecting).map((at) => at - tUp);
      const fetchFailures = await Promise.all(replicas.map((r) => fetchFailureCount(r)));

      await sleep(2000);
      stopTraffic = true;
      await traffic;
      await Promise.all([...inflight]);

      for (const r of replicas) {
        const res = await chatStatus(r, callerKey, 'after-outage');
        assert.equal(res.status, 200, `${r.name}: ${res.body}`);
        const m = await servedModels(r, callerKey);
        assert.ok(
          Array.isArray(m) && !m.includes('during-outage'),
          `${r.name}: the failed write never appears`,
        );
      }

      const errors = outcomes.filter((o) => o.error !== undefined);
      const inOutage = outcomes.filter((o) => o.at >= tKill && o.at <= tUp + Math.max(0, ...reconnect));
      const perReplica = replicas.map(
        (r) => `${r.name} ${outcomes.filter((o) => o.replica === r.name).length}`,
      );
      const elapsedS = (performance.now() - t0) / 1000;
      t.diagnostic(
        `traffic: ${outcomes.length} chat completions in ${elapsedS.toFixed(1)} s (${RATE_PER_SEC}/s round-robin: ${perReplica.join(', ')}), ` +
          `${errors.length} failed; ${inOutage.length} answered while etcd was down or the replicas reconnecting`,
      );
      t.diagnostic(
        `etcd down ${(outageMs / 1000).toFixed(1)} s (SIGKILL → restarted and answering; restart itself took ${(tUp - tRestart).toFixed(0)} ms); ` +
          `all replicas reported disconnected after ${detectMs.toFixed(0)} ms; admin write during the outage → ${during.status} in ${duringMs.toFixed(0)} ms`,
      );
      t.diagnostic(
        `catch-up after etcd answered again: replicas reconnected after ${reconnect.map((x) => `${(x / 1000).toFixed(2)} s`).join(', ')} ` +
          `(negative: during etcd's start-up; failed fetch cycles per replica: ${fetchFailures.join(', ')}); ` +
          `the first admin write was accepted ${acceptedMs.toFixed(0)} ms after etcd answered and reached all replicas ${propagateMs.toFixed(0)} ms later`,
      );
      assert.deepEqual(
        errors.slice(0, 5).map((e) => `${e.replica}: ${e.error}`),
        [],
        `${errors.length} of ${outcomes.length} requests failed`,
      );
      // The traffic really ran through the outage: at least 90 % of the scheduled requests.
      assert.ok(
        inOutage.length >= 0.9 * RATE_PER_SEC * (OUTAGE_MS / 1000),
        `only ${inOutage.length} requests during the outage`,
      );
      assert.equal(upstream.calls.length >= outcomes.length, true, 'every success reached the upstream');
    } finally {
      stopTraffic = true;
      await traffic;
      await Promise.all([...inflight]);
    }
  });
});
