/**
 * Safe concurrent admin writes and caller-key rotation on a cluster: one etcd, one
 * `--role admin` process and three `--role gateway` replicas, all real processes from the
 * built CLI; chat completions through the official openai SDK against each replica.
 *
 *  - 20 parallel rotations of one key with If-Match of the same revision: exactly one 200,
 *    nineteen 412; the winning plaintext works on every replica, the replaced key on none.
 *  - Rotation with `grace_secs`: the old key keeps working on every replica until the
 *    absolute end stored with it, stops on every replica right after, and both keys draw
 *    from the same rate limit (the limit identity is the api key's id).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testEtcd } from '@aisix/testkit';
import OpenAI from 'openai';
import {
  ADMIN_KEY,
  AdminClient,
  type AisixProcess,
  chatStatus,
  httpSend,
  type MockUpstream,
  removeDir,
  startAisix,
  startMockUpstream,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

const auth = { authorization: `Bearer ${ADMIN_KEY}` };

describe('rotation on a cluster: admin + 3 gateway replicas on one etcd', () => {
  const dir = tempDir('rotation-cluster');
  let upstream: MockUpstream;
  let admin: AisixProcess;
  let replicas: AisixProcess[] = [];
  let api: AdminClient;

  before(async () => {
    const etcd = await testEtcd();
    upstream = await startMockUpstream();
    admin = await startAisix({ name: 'admin', dir, role: 'admin', etcd });
    replicas = await Promise.all(
      [1, 2, 3].map((n) => startAisix({ name: `gateway-${n}`, dir, role: 'gateway', etcd })),
    );
    await waitStatus(admin, `${admin.adminUrl}/readyz`, 200, 60_000); // slow boots on a loaded CI box
    await Promise.all(replicas.map((r) => waitStatus(r, `${r.proxyUrl}/readyz`, 200, 60_000)));
    api = new AdminClient(admin.adminUrl);
    const pk = await api.create('provider_keys', {
      display_name: 'mock',
      provider: 'openai',
      api_key: 'sk-upstream-rotation',
      api_base: upstream.apiBase,
    });
    await api.create('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: pk.id,
    });
  });

  after(async () => {
    await Promise.all([admin, ...replicas].map((p) => p?.kill()));
    await upstream?.close();
    removeDir(dir);
  });

  const sdkChat = (r: AisixProcess, key: string) =>
    new OpenAI({
      apiKey: key,
      baseURL: `${r.proxyUrl}/v1`,
      maxRetries: 0,
      timeout: 10_000,
    }).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'ping' }] });

  async function untilEveryReplica(
    what: string,
    probe: (r: AisixProcess) => Promise<boolean>,
  ): Promise<void> {
    await Promise.all(
      replicas.map((r) =>
        waitUntil(`${r.name}: ${what}`, async () => ((await probe(r)) ? true : undefined), {
          timeoutMs: 5000,
          intervalMs: 10,
          alive: [r],
        }),
      ),
    );
  }

  async function newCallerKey(body: Record<string, unknown>): Promise<{ id: string; plaintext: string }> {
    const created = await api.create('api_keys', { allowed_models: ['chat'], ...body });
    assert.ok(created.plaintext);
    const plaintext = created.plaintext;
    await untilEveryReplica(
      'the new caller key answers',
      async (r) => (await chatStatus(r, plaintext, 'chat')).status === 200,
    );
    return { id: created.id, plaintext };
  }

  test('20 parallel rotations with If-Match of one revision: one wins, 19 get 412, the winner works everywhere', async () => {
    const { id, plaintext: original } = await newCallerKey({ display_name: 'raced' });
    const entry = JSON.parse((await api.raw('GET', `/api_keys/${id}`)).body) as { revision: number };
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        httpSend('POST', `${admin.adminUrl}/admin/v1/api_keys/${id}/rotate`, {
          ...auth,
          'if-match': `"${entry.revision}"`,
        }),
      ),
    );
    const won = results.filter((r) => r.status === 200);
    assert.equal(won.length, 1, results.map((r) => `${r.status} ${r.body}`).join('\n'));
    for (const r of results.filter((x) => x.status !== 200)) {
      assert.equal(r.status, 412, r.body);
      assert.match((JSON.parse(r.body) as { error_msg: string }).error_msg, /^precondition failed/);
    }
    const plaintext = (JSON.parse(won[0]?.body ?? '{}') as { plaintext: string }).plaintext;
    await untilEveryReplica(
      'the winning key answers',
      async (r) => (await chatStatus(r, plaintext, 'chat')).status === 200,
    );
    for (const r of replicas) {
      const res = await sdkChat(r, plaintext);
      assert.equal(res.choices[0]?.message.content, 'pong', r.name);
    }
    await untilEveryReplica(
      'the replaced key is refused',
      async (r) => (await chatStatus(r, original, 'chat')).status === 401,
    );
    // The audit trail (in etcd, beside the watched prefix) holds the one rotation that
    // happened, at its revision, and nothing for the nineteen refused ones.
    const trail = await api.raw('GET', `/audit?kind=api_keys&id=${id}&action=rotate`);
    assert.equal(trail.status, 200, trail.body);
    const records = (JSON.parse(trail.body) as { records: { revision: number; actor: string }[] }).records;
    const winner = JSON.parse(won[0]?.body ?? '{}') as { entry: { revision: number } };
    assert.deepEqual(
      records.map((r) => r.revision),
      [winner.entry.revision],
    );
    assert.match(records[0]?.actor ?? '', /^admin:[0-9a-f]{12}$/);
    assert.ok(!trail.body.includes(plaintext) && !trail.body.includes(ADMIN_KEY));
  });

  async function rotateWithGrace(id: string, graceSecs: number): Promise<{ newKey: string; endMs: number }> {
    const res = await httpSend('POST', `${admin.adminUrl}/admin/v1/api_keys/${id}/rotate`, auth, {
      grace_secs: graceSecs,
    });
    assert.equal(res.status, 200, res.body);
    const rotated = JSON.parse(res.body) as {
      plaintext: string;
      entry: { value: { previous_keys: { expires_at: string }[] } };
    };
    const endMs = Date.parse(rotated.entry.value.previous_keys[0]?.expires_at ?? '');
    assert.ok(endMs > Date.now(), 'the window ends in the future');
    const newKey = rotated.plaintext;
    await untilEveryReplica(
      'the new key answers',
      async (r) => (await chatStatus(r, newKey, 'chat')).status === 200,
    );
    return { newKey, endMs };
  }

  test('rotation with grace_secs: the old key works on every replica until the end, then stops on each', async (t) => {
    const { id, plaintext: oldKey } = await newCallerKey({ display_name: 'graceful' });
    const { newKey, endMs } = await rotateWithGrace(id, 4);
    // Inside the window the old key answers everywhere, through the SDK.
    for (const r of replicas) {
      const old = await sdkChat(r, oldKey);
      assert.equal(old.choices[0]?.message.content, 'pong', `${r.name}: old key inside the window`);
    }
    // Poll each replica with the old key until it is refused: it must still answer shortly
    // before the end and be refused shortly after, on each replica.
    const lastOk: number[] = [];
    const firstRefused: number[] = [];
    await Promise.all(
      replicas.map(async (r, i) => {
        for (;;) {
          const now = Date.now();
          const res = await chatStatus(r, oldKey, 'chat');
          if (res.status === 200) lastOk[i] = now;
          else {
            assert.equal(res.status, 401, `${r.name}: old key after the window: ${res.body}`);
            assert.equal((JSON.parse(res.body) as { error: { type: string } }).error.type, 'invalid_api_key');
            firstRefused[i] = now;
            return;
          }
          if (now > endMs + 3000) assert.fail(`${r.name}: old key still accepted 3 s after the end`);
          await sleep(Math.max(10, Math.min(500, endMs - now - 300)));
        }
      }),
    );
    replicas.forEach((r, i) => {
      t.diagnostic(
        `${r.name}: old key last answered ${(lastOk[i] ?? 0) - endMs} ms, first refused ${(firstRefused[i] ?? 0) - endMs} ms relative to the stored end`,
      );
      assert.ok((lastOk[i] ?? 0) > endMs - 500, `${r.name}: the old key answered until close to the end`);
      assert.ok(
        (firstRefused[i] ?? Number.POSITIVE_INFINITY) <= endMs + 250,
        `${r.name}: refused within 250 ms of the end`,
      );
    });
    for (const r of replicas) {
      assert.equal((await chatStatus(r, newKey, 'chat')).status, 200, `${r.name}: new key after the window`);
      assert.equal((await chatStatus(r, oldKey, 'chat')).status, 401, `${r.name}: old key stays refused`);
    }
  });

  test('during the window both keys draw from the one rate limit of the api key', async () => {
    // rpm windows are fixed and aligned to the minute: start well inside one.
    const toNextMinute = 60_000 - (Date.now() % 60_000);
    if (toNextMinute < 8000) await sleep(toNextMinute + 50);
    const { id, plaintext: oldKey } = await newCallerKey({ display_name: 'limited', rate_limit: { rpm: 6 } });
    const { newKey } = await rotateWithGrace(id, 600);
    // Per replica: 1 call in newCallerKey's probe and 1 in rotateWithGrace's probe so far.
    const g = replicas[0] as AisixProcess;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await chatStatus(g, i % 2 ? newKey : oldKey, 'chat')).status);
    assert.deepEqual(statuses, [200, 200, 200, 200]);
    const overOld = await chatStatus(g, oldKey, 'chat');
    const overNew = await chatStatus(g, newKey, 'chat');
    assert.equal(overOld.status, 429, `old key over the shared limit: ${overOld.body}`);
    assert.equal(overNew.status, 429, `new key over the shared limit: ${overNew.body}`);
  });
});
