/**
 * Limits and cache policies, Admin API → gateway, live (docs/rate-limits.md, docs/cache.md):
 * one `aisix --role all` process on its embedded store. Every knob goes in through the Admin
 * API (which validates and stores it) and is seen applied by the proxy of the same running
 * process, without a restart: an inline key limit, a change of it, a classic and a conditional
 * `rate_limit_policies` row, a `cache_policies` row, and their deletions.
 *
 * "Applied" is waited for through `/status/config` (`applied.applied_revision` reaches the
 * revision the Admin API answered), so no probe request is spent on a counter under test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AdminClient,
  type AisixProcess,
  type Entry,
  killAll,
  removeDir,
  startAisix,
  statusConfig,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';
import {
  chat,
  metricValue,
  roomInMinute,
  sameMinute,
  startUsageUpstream,
  type UsageUpstream,
} from './limits-harness.js';

interface ErrorBody {
  error: { type: string; message: string; policy?: { id: string; name: string } };
}

describe('limits and cache policies: Admin API → gateway, live (--role all)', () => {
  const dir = tempDir('limits-admin');
  let upstream: UsageUpstream;
  let aisix: AisixProcess;
  let api: AdminClient;

  before(async () => {
    upstream = await startUsageUpstream({ totalTokens: 4 });
    aisix = await startAisix({ name: 'all', dir, role: 'all' });
    await waitStatus(aisix, `${aisix.adminUrl}/readyz`, 200);
    await waitStatus(aisix, `${aisix.proxyUrl}/readyz`, 200);
    api = new AdminClient(aisix.adminUrl);
    const pk = await api.create('provider_keys', {
      display_name: 'mock',
      provider: 'openai',
      api_key: 'sk-upstream-limits-admin',
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
    await killAll([aisix]);
    await upstream?.close();
    removeDir(dir);
  });

  /** Resolves once the gateway serves the snapshot of `revision` (or a later one). */
  const applied = (revision: number) =>
    waitUntil(
      `revision ${revision} applied`,
      async () => {
        const s = await statusConfig(aisix);
        return (s.applied?.applied_revision ?? 0) >= revision ? true : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 10, alive: [aisix] },
    );

  const send = (key: string, extra: Record<string, unknown> = {}) => chat(aisix.proxyUrl, key, extra);

  const newKey = async (body: Record<string, unknown>): Promise<{ id: string; key: string }> => {
    const created = await api.create('api_keys', { allowed_models: ['chat'], ...body });
    assert.ok(created.plaintext);
    await applied(created.revision);
    return { id: created.id, key: created.plaintext };
  };

  const statuses = async (key: string, n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await send(key)).status);
    return out;
  };

  test('an inline key limit: rpm 3 refuses the 4th; PUT rpm 5 applies live; a bad PUT is refused; delete → 401', async () => {
    const minute = await roomInMinute(15);
    const { id, key } = await newKey({ display_name: 'limited', rate_limit: { rpm: 3 } });
    const first = await send(key);
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-ratelimit-limit-requests'], '3');
    assert.equal(first.headers['x-ratelimit-remaining-requests'], '2');
    assert.deepEqual(await statuses(key, 2), [200, 200]);
    const refused = await send(key);
    assert.equal(refused.status, 429);
    const ra = Number(refused.headers['retry-after']);
    assert.ok(ra >= 1 && ra <= 60, `Retry-After ${String(refused.headers['retry-after'])}`);
    assert.equal((JSON.parse(refused.body) as ErrorBody).error.type, 'rate_limit_exceeded');

    // rpm 3 → 5 in the same window: the 3 counted requests stay counted, 2 more pass.
    const stored = (await api.raw('GET', `/api_keys/${id}`)).body;
    const value = (JSON.parse(stored) as Entry).value;
    const put = await api.raw('PUT', `/api_keys/${id}`, { ...value, rate_limit: { rpm: 5 } });
    assert.equal(put.status, 200, put.body);
    await applied((JSON.parse(put.body) as Entry).revision);
    const fourth = await send(key);
    assert.equal(fourth.status, 200, fourth.body);
    assert.equal(fourth.headers['x-ratelimit-limit-requests'], '5');
    assert.equal(fourth.headers['x-ratelimit-remaining-requests'], '1');
    assert.deepEqual(await statuses(key, 2), [200, 429]);

    // The Admin API validates the knob: a negative limit is refused, the stored one stays.
    const bad = await api.raw('PUT', `/api_keys/${id}`, { ...value, rate_limit: { rpm: -1 } });
    assert.equal(bad.status, 400, bad.body);
    assert.match(bad.body, /rate_limit\/rpm/);
    const after = JSON.parse((await api.raw('GET', `/api_keys/${id}`)).body) as Entry;
    assert.deepEqual(after.value.rate_limit, { rpm: 5 });
    sameMinute(minute, 'the inline-limit sequence');

    await api.remove('api_keys', id);
    await waitUntil(
      'the deleted key is refused',
      async () => ((await send(key)).status === 401 ? true : undefined),
      {
        timeoutMs: 10_000,
        alive: [aisix],
      },
    );
  });

  test('a classic rate_limit_policies row is enforced, then gone once deleted', async () => {
    const { id: keyId, key } = await newKey({ display_name: 'policy-classic' });
    const policy = await api.create('rate_limit_policies', {
      name: 'e2e-classic',
      scope: 'api_key',
      scope_ref: keyId,
      window: 'minute',
      max_requests: 2,
    });
    await applied(policy.revision);
    const minute = await roomInMinute(10);
    assert.deepEqual(await statuses(key, 2), [200, 200]);
    const refused = await send(key);
    sameMinute(minute, 'the classic-policy requests');
    assert.equal(refused.status, 429);
    const err = (JSON.parse(refused.body) as ErrorBody).error;
    assert.deepEqual(err.policy, { id: policy.id, name: 'e2e-classic' });
    assert.match(err.message, /policy 'e2e-classic'/);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.ok(
      (await metricValue(aisix, 'aisix_ratelimit_rejections_total', {
        layer: 'policy',
        policy_id: policy.id,
      })) >= 1,
    );

    await api.remove('rate_limit_policies', policy.id);
    await waitUntil(
      'the deleted policy no longer refuses',
      async () => ((await send(key)).status === 200 ? true : undefined),
      { timeoutMs: 10_000, alive: [aisix] },
    );
    assert.deepEqual(await statuses(key, 3), [200, 200, 200]);
  });

  test('a conditional rate_limit_policies row is enforced, then gone once deleted', async () => {
    const { id: keyId, key } = await newKey({ display_name: 'policy-conditional' });
    const { key: other } = await newKey({ display_name: 'policy-bystander' });
    const policy = await api.create('rate_limit_policies', {
      name: 'e2e-conditional',
      conditions: [
        { dimension: 'api_key', operator: '==', value: keyId },
        { dimension: 'model_name', operator: '~*', value: '^GPT-' },
      ],
      limits: { rpm: 1 },
    });
    await applied(policy.revision);
    const minute = await roomInMinute(10);
    assert.deepEqual(await statuses(key, 2), [200, 429]);
    sameMinute(minute, 'the conditional-policy requests');
    // The condition selects one key: another key on the same model is not limited.
    assert.deepEqual(await statuses(other, 3), [200, 200, 200]);

    await api.remove('rate_limit_policies', policy.id);
    await waitUntil(
      'the deleted policy no longer refuses',
      async () => ((await send(key)).status === 200 ? true : undefined),
      { timeoutMs: 10_000, alive: [aisix] },
    );
    assert.deepEqual(await statuses(key, 2), [200, 200]);
  });

  test('a cache_policies row: the second identical request is a hit; deleted → no cache', async () => {
    const { id: keyId, key } = await newKey({ display_name: 'cached' });
    const body = { messages: [{ role: 'user', content: 'cache me, please' }] };

    // No policy yet: no cache header, every request reaches the upstream.
    let before = upstream.calls();
    const plain = await send(key, body);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['x-aisix-cache'], undefined);
    assert.equal(upstream.calls() - before, 1);

    const policy = await api.create('cache_policies', {
      name: 'e2e-cache',
      applies_to: `api_key:${keyId}`,
      ttl_seconds: 60,
    });
    await applied(policy.revision);
    before = upstream.calls();
    const first = await send(key, body);
    const second = await send(key, body);
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-aisix-cache'], 'miss');
    assert.equal(second.status, 200);
    assert.equal(second.headers['x-aisix-cache'], 'hit');
    assert.equal(second.body, first.body, 'the hit replays the stored answer');
    assert.equal(upstream.calls() - before, 1, 'the hit did not reach the upstream');

    await api.remove('cache_policies', policy.id);
    await waitUntil(
      'the deleted cache policy no longer answers',
      async () => ((await send(key, body)).headers['x-aisix-cache'] === undefined ? true : undefined),
      { timeoutMs: 10_000, alive: [aisix] },
    );
    before = upstream.calls();
    const gone = await send(key, body);
    assert.equal(gone.headers['x-aisix-cache'], undefined);
    assert.equal(upstream.calls() - before, 1, 'without the policy the request reaches the upstream');
  });
});
