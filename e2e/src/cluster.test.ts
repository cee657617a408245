/**
 * Cluster acceptance tests (issue "Gateway node"): one etcd, one `--role admin` process and
 * three `--role gateway` replicas on the same prefix, every one a real process spawned from
 * the built CLI. Admin writes go over HTTP; what the replicas serve is read back through
 * their proxy listeners (`/v1/models`, chat completions through the official openai SDK).
 *
 * etcd: the run's shared etcd (AISIX_TEST_ETCD) or a private one, under a prefix of our own,
 * so other test files cannot disturb this one's keys. The tests in this file run one after
 * the other (node:test's default inside a file): the latency test must not compete with the
 * rotation test for the same replicas.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testEtcd } from '@aisix/testkit';
import OpenAI from 'openai';
import {
  AdminClient,
  type AisixProcess,
  chatStatus,
  type MockUpstream,
  ms,
  percentile,
  removeDir,
  servedModels,
  startAisix,
  startMockUpstream,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

/** control-plane.md §2.9: p99 ≤ 500 ms from an etcd write to every replica. */
const BUDGET_MS = 500;
const WRITES = 200;

describe('cluster: admin + 3 gateway replicas on one etcd', () => {
  const dir = tempDir('cluster');
  let upstream: MockUpstream;
  let admin: AisixProcess;
  let replicas: AisixProcess[] = [];
  let api: AdminClient;
  let pkId = '';
  let callerKey = '';

  before(async () => {
    const etcd = await testEtcd();
    upstream = await startMockUpstream();
    admin = await startAisix({ name: 'admin', dir, role: 'admin', etcd });
    replicas = await Promise.all(
      [1, 2, 3].map((n) => startAisix({ name: `gateway-${n}`, dir, role: 'gateway', etcd })),
    );
    await waitStatus(admin, `${admin.adminUrl}/readyz`, 200);
    await Promise.all(replicas.map((r) => waitStatus(r, `${r.proxyUrl}/readyz`, 200)));
    api = new AdminClient(admin.adminUrl);
    // Referenced resources first, the caller key last: once the key authenticates and the
    // alias answers on a replica, that replica has applied everything before it.
    const pk = await api.create('provider_keys', {
      display_name: 'mock',
      provider: 'openai',
      api_key: 'sk-upstream-cluster',
      api_base: upstream.apiBase,
    });
    pkId = pk.id;
    await api.create('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: pkId,
    });
    const key = await api.create('api_keys', { display_name: 'poller', allowed_models: ['*'] });
    assert.ok(key.plaintext, 'a create without key_hash returns the generated key');
    callerKey = key.plaintext;
    await Promise.all(
      replicas.map((r) =>
        waitUntil(
          `${r.name} serves "chat" to the seeded caller key`,
          async () => ((await chatStatus(r, callerKey, 'chat')).status === 200 ? true : undefined),
          { timeoutMs: 10_000, alive: [r] },
        ),
      ),
    );
  });

  after(async () => {
    await Promise.all([admin, ...replicas].map((p) => p?.kill()));
    await upstream?.close();
    removeDir(dir);
  });

  /**
   * Polls every replica back to back (1 ms apart) until `served` holds on all three; returns
   * the time at which the last one got there. Fails after 5 s (ten times the budget).
   */
  async function untilAllServe(what: string, served: (r: AisixProcess) => Promise<boolean>): Promise<number> {
    const deadline = performance.now() + 5000;
    const times = await Promise.all(
      replicas.map(async (r) => {
        for (;;) {
          if (await served(r)) return performance.now();
          if (performance.now() > deadline) {
            r.assertAlive();
            assert.fail(`${r.name} did not serve ${what} within 5 s`);
          }
          await sleep(1);
        }
      }),
    );
    return Math.max(...times);
  }

  test(`an admin write is served by all three replicas: p99 < ${BUDGET_MS} ms over ${WRITES} writes`, async (t) => {
    const total: number[] = [];
    const afterAck: number[] = [];
    const ack: number[] = [];
    const puts: number[] = [];
    const deletes: number[] = [];
    let modelId = '';
    for (let i = 0; i < WRITES; i++) {
      // Even writes create an alias, odd writes delete it again: puts and deletes both count.
      const alias = `prop-${Math.floor(i / 2)}`;
      const create = i % 2 === 0;
      const t0 = performance.now();
      if (create) {
        modelId = (
          await api.create('models', {
            display_name: alias,
            provider: 'openai',
            model_name: `gpt-${alias}`,
            provider_key_id: pkId,
          })
        ).id;
      } else {
        await api.remove('models', modelId);
      }
      const tAck = performance.now();
      const tAll = await untilAllServe(`${create ? 'the new' : 'the deleted'} alias ${alias}`, async (r) => {
        const models = await servedModels(r, callerKey);
        assert.ok(Array.isArray(models), `${r.name} /v1/models → ${String(models)}`);
        return models.includes(alias) === create;
      });
      total.push(tAll - t0);
      afterAck.push(tAll - tAck);
      ack.push(tAck - t0);
      (create ? puts : deletes).push(tAll - t0);
      if (create && i % 40 === 0) {
        // Listed is not enough: the new alias answers a chat request on every replica.
        const before = upstream.calls.length;
        for (const r of replicas) {
          const res = await chatStatus(r, callerKey, alias);
          assert.equal(res.status, 200, `${r.name}: ${res.body}`);
          assert.equal((JSON.parse(res.body) as { model: string }).model, alias);
        }
        assert.deepEqual(
          upstream.calls.slice(before).map((c) => c.model),
          [`gpt-${alias}`, `gpt-${alias}`, `gpt-${alias}`],
        );
      }
    }
    const sort = (a: number[]) => [...a].sort((x, y) => x - y);
    const [s, sa, sk, sp, sd] = [sort(total), sort(afterAck), sort(ack), sort(puts), sort(deletes)];
    t.diagnostic(
      `write → served on all 3 replicas (${WRITES} writes, request sent → last replica serves): ` +
        `p50 ${ms(percentile(s, 50))}, p90 ${ms(percentile(s, 90))}, p99 ${ms(percentile(s, 99))}, max ${ms(percentile(s, 100))}`,
    );
    t.diagnostic(
      `admin response → served on all 3: p50 ${ms(percentile(sa, 50))}, p99 ${ms(percentile(sa, 99))}; ` +
        `admin write round trip: p50 ${ms(percentile(sk, 50))}, p99 ${ms(percentile(sk, 99))}`,
    );
    t.diagnostic(
      `creates p99 ${ms(percentile(sp, 99))} (n=${sp.length}), deletes p99 ${ms(percentile(sd, 99))} (n=${sd.length})`,
    );
    assert.equal(total.length, WRITES);
    assert.ok(
      percentile(s, 99) < BUDGET_MS,
      `p99 ${ms(percentile(s, 99))} is over the ${BUDGET_MS} ms propagation budget`,
    );
  });

  test('a rotated or deleted caller key stops working on every replica within the budget', async (t) => {
    const created = await api.create('api_keys', { display_name: 'rotating', allowed_models: ['chat'] });
    assert.ok(created.plaintext);
    let current = created.plaintext;
    await untilAllServe(
      'the new caller key',
      async (r) => (await chatStatus(r, current, 'chat')).status === 200,
    );

    const sdk = (r: AisixProcess, key: string) =>
      new OpenAI({ apiKey: key, baseURL: `${r.proxyUrl}/v1`, maxRetries: 0, timeout: 10_000 });
    const rejects401 = async (r: AisixProcess, key: string, label: string) => {
      await assert.rejects(
        sdk(r, key).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.AuthenticationError, `${r.name} ${label}: ${String(err)}`);
          assert.equal(err.status, 401);
          assert.equal((err.error as { type?: string } | undefined)?.type, 'invalid_api_key');
          return true;
        },
      );
    };

    const rotations: number[] = [];
    const ROTATIONS = 10;
    for (let i = 0; i < ROTATIONS; i++) {
      const old = current;
      const t0 = performance.now();
      const rotated = await api.rotate(created.id);
      assert.equal(rotated.entry.id, created.id);
      assert.match(rotated.plaintext, /^sk-[0-9a-f]{32}$/);
      current = rotated.plaintext;
      const tAll = await untilAllServe('the rotation', async (r) => {
        const [o, n] = await Promise.all([servedModels(r, old), servedModels(r, current)]);
        return o === 401 && Array.isArray(n) && n.includes('chat');
      });
      rotations.push(tAll - t0);
      // The old plaintext is refused by every replica, the new one answers, through the SDK.
      for (const r of replicas) {
        await rejects401(r, old, 'old plaintext after rotation');
        const ok = await sdk(r, current).chat.completions.create({
          model: 'chat',
          messages: [{ role: 'user', content: 'hi' }],
        });
        assert.equal(ok.choices[0]?.message.content, 'pong');
        assert.equal(ok.model, 'chat');
      }
    }

    const t0 = performance.now();
    await api.remove('api_keys', created.id);
    const tAll = await untilAllServe('the deletion', async (r) => (await servedModels(r, current)) === 401);
    const deletion = tAll - t0;
    for (const r of replicas) await rejects401(r, current, 'deleted key');

    const sorted = [...rotations].sort((a, b) => a - b);
    t.diagnostic(
      `rotate → old key 401 and new key served on all 3: ${ROTATIONS} rotations, ` +
        `p50 ${ms(percentile(sorted, 50))}, max ${ms(percentile(sorted, 100))}; delete → 401 on all 3: ${ms(deletion)}`,
    );
    for (const [i, d] of rotations.entries()) {
      assert.ok(
        d < BUDGET_MS,
        `rotation ${i + 1} took ${ms(d)} to reach every replica (budget ${BUDGET_MS} ms)`,
      );
    }
    assert.ok(deletion < BUDGET_MS, `deletion took ${ms(deletion)} to reach every replica`);
  });
});
