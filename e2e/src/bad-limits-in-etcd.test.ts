/**
 * Bad limits written straight into etcd (control-plane §2.5, §2.6, §6.1): rows that bypass the
 * Admin API's validation, put through etcd's JSON gateway under the prefix of a running
 * `aisix --role gateway` process. What must hold, on the initial load and on watch events:
 *
 * - each bad row is RED: listed in `GET /status/config` `rejected[]` with its kind, id and a
 *   `last_error` naming the field's pointer, never quoting a secret; it is not served;
 * - serving goes on: good keys and models answer 200, and a good policy next to the bad ones
 *   is enforced (429 at the right request); a policy that turns RED while serving keeps its
 *   last-known-good value (`serving_stale_since`) and stays enforced;
 * - fixing the rows in etcd makes them GREEN: state back to `synced`, nothing rejected, the
 *   repaired policy enforced and the repaired key authenticating.
 *
 * Limits use hour windows (epoch-aligned, data-plane §9.2); every "Nth request is refused"
 * burst is a few sequential requests started at least 2 s before the hour ends. Checks that
 * span longer than one burst accept a window rollover in between.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { testEtcd } from '@aisix/testkit';
import {
  type AisixProcess,
  chatStatus,
  httpGet,
  killAll,
  type MockUpstream,
  removeDir,
  startAisix,
  startMockUpstream,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

interface Rejected {
  resource_kind: string;
  resource_id: string;
  last_error_kind: string;
  last_error: string;
  serving_stale_since?: string;
}
interface Status {
  state: string;
  applied?: { resource_counts: Record<string, number> };
  rejected: Rejected[];
}

const run = randomUUID().slice(0, 8);
const UPSTREAM_SECRET = `sk-upstream-SECRET-${run}`;
const LEAKY_SECRET = `sk-leaky-SECRET-${run}`;
const plain = {
  good: `sk-e2e-good-${run}`,
  limited: `sk-e2e-limited-${run}`,
  fixme: `sk-e2e-fixme-${run}`,
  bad: `sk-e2e-bad-${run}`,
};
const callerKey = (plaintext: string, extra: Record<string, unknown> = {}) => ({
  key_hash: sha256(plaintext),
  allowed_models: ['chat'],
  ...extra,
});

/** The good classic policy: key-limited gets 3 requests per hour. */
const LIMITED_POLICY = {
  name: 'limited-3-per-hour',
  scope: 'api_key',
  scope_ref: 'key-limited',
  window: 'hour',
  max_requests: 3,
};
/** The conditional policy for key-fixme, as it should be (the etcd row starts broken). */
const FIXME_POLICY = {
  name: 'fixme-2-per-hour',
  limits: { rph: 2 },
  conditions: [{ dimension: 'api_key', operator: '==', value: 'key-fixme' }],
};

/**
 * Rows written wrongly, the pointer their error must name (and optionally the text after it),
 * whether they are there before the gateway starts or arrive as watch events, and how the
 * test repairs them (null: deleted).
 */
interface BadRow {
  kind: string;
  id: string;
  doc: unknown;
  pointer: string;
  detail?: string;
  fix: unknown | null;
  atStart: boolean;
}
const BAD: BadRow[] = [
  {
    kind: 'rate_limit_policies',
    id: 'policy-bad-operator',
    doc: { ...FIXME_POLICY, conditions: [{ dimension: 'api_key', operator: '=~', value: 'key-fixme' }] },
    pointer: '/conditions/0/operator',
    // Lists the supported operators only, not the reserved ones.
    detail: 'must be one of ("==" | "~=" | "in" | "~~" | "~*")',
    fix: FIXME_POLICY,
    atStart: true,
  },
  {
    kind: 'cache_policies',
    id: 'cache-ttl-zero',
    doc: { name: 'bad-cache', ttl_seconds: 0 },
    pointer: '/ttl_seconds',
    // Valid, and scoped to a key that does not exist: caching stays out of the counts below.
    fix: { name: 'bad-cache', ttl_seconds: 60, applies_to: 'api_key:key-none' },
    atStart: true,
  },
  {
    kind: 'api_keys',
    id: 'key-bad',
    doc: callerKey(plain.bad, { rate_limit: { rpm: -1 } }),
    pointer: '/rate_limit/rpm',
    fix: callerKey(plain.bad, { rate_limit: { rpm: 100 } }),
    atStart: true,
  },
  // Would limit key-good to 1 request per hour if it were served.
  {
    kind: 'rate_limit_policies',
    id: 'policy-bad-timezone',
    doc: {
      name: 'would-starve-good',
      scope: 'api_key',
      scope_ref: 'key-good',
      window: 'hour',
      max_requests: 1,
      schedules: [
        { timezone: 'Mars/Olympus', start_time: '00:00', end_time: '00:01', days_of_week: ['mon'] },
      ],
    },
    pointer: '/schedules/0/timezone',
    fix: null,
    atStart: false,
  },
  {
    kind: 'models',
    id: 'model-bad',
    doc: {
      display_name: 'chat-2',
      provider: 'openai',
      model_name: 'gpt-mock-2',
      provider_key_id: 'pk-mock',
      rate_limit: { rpm: 10, tpm: 'lots' },
    },
    pointer: '/rate_limit/tpm',
    fix: {
      display_name: 'chat-2',
      provider: 'openai',
      model_name: 'gpt-mock-2',
      provider_key_id: 'pk-mock',
      rate_limit: { rpm: 10, tpm: 100_000 },
    },
    atStart: false,
  },
  {
    kind: 'provider_keys',
    id: 'pk-leaky',
    doc: { display_name: 'leaky', provider: 'openai', api_key: LEAKY_SECRET, adapter: 'carrier-pigeon' },
    pointer: '/adapter',
    fix: { display_name: 'leaky', provider: 'openai', api_key: LEAKY_SECRET },
    atStart: false,
  },
];

describe('bad limits written straight into etcd, under a running gateway', () => {
  const dir = tempDir('bad-limits');
  let etcd: { endpoint: string; prefix: string };
  let upstream: MockUpstream;
  let gw: AisixProcess;

  async function put(kind: string, id: string, doc: unknown): Promise<void> {
    const res = await fetch(`${etcd.endpoint}/v3/kv/put`, {
      method: 'POST',
      body: JSON.stringify({ key: b64(`${etcd.prefix}/${kind}/${id}`), value: b64(JSON.stringify(doc)) }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `etcd put ${kind}/${id}: ${text}`);
  }

  async function del(kind: string, id: string): Promise<void> {
    const res = await fetch(`${etcd.endpoint}/v3/kv/deleterange`, {
      method: 'POST',
      body: JSON.stringify({ key: b64(`${etcd.prefix}/${kind}/${id}`) }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, `etcd delete ${kind}/${id}: ${text}`);
  }

  async function statusText(): Promise<string> {
    const r = await httpGet(`${gw.metricsUrl}/status/config`);
    assert.equal(r.status, 200, r.body);
    return r.body;
  }

  /** Polls /status/config until `ok` holds; returns that status. */
  async function statusUntil(what: string, ok: (s: Status) => boolean): Promise<Status> {
    return waitUntil(
      what,
      async () => {
        const s = JSON.parse(await statusText()) as Status;
        return ok(s) ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 25, alive: [gw] },
    );
  }

  const chat = async (key: string, model = 'chat'): Promise<number> =>
    (await chatStatus(gw, key, model)).status;

  /** Statuses of `n` sequential requests with `key`, started at least 2 s before the hour ends. */
  async function sequence(key: string, n: number): Promise<number[]> {
    const left = 3_600_000 - (Date.now() % 3_600_000);
    if (left < 2000) await sleep(left + 100);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(await chat(key));
    return out;
  }

  /**
   * The policy is enforced: within the next `limit + 1` requests there is a 429 and no more
   * than `limit` were admitted (an hour rollover since the last burst only delays the 429).
   */
  async function stillLimited(key: string, limit: number): Promise<void> {
    const seen: number[] = [];
    for (let i = 0; i <= limit; i++) {
      const s = await chat(key);
      seen.push(s);
      if (s === 429) break;
      assert.equal(s, 200, `request ${i + 1}: ${seen.join(',')}`);
    }
    assert.equal(seen.at(-1), 429, `no 429 within ${limit + 1} requests: ${seen.join(',')}`);
  }

  function assertNoSecrets(text: string): void {
    for (const s of [UPSTREAM_SECRET, LEAKY_SECRET, ...Object.values(plain)])
      assert.ok(!text.includes(s), `/status/config shows a secret (${s.slice(0, 12)}...)`);
    assert.ok(!text.includes(sha256(plain.bad)), '/status/config quotes the bad row');
  }

  before(async () => {
    etcd = await testEtcd();
    upstream = await startMockUpstream();
    await put('provider_keys', 'pk-mock', {
      display_name: 'mock',
      provider: 'openai',
      api_key: UPSTREAM_SECRET,
      api_base: upstream.apiBase,
    });
    await put('models', 'model-chat', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: 'pk-mock',
    });
    await put('api_keys', 'key-good', callerKey(plain.good, { allowed_models: ['*'] }));
    await put('api_keys', 'key-limited', callerKey(plain.limited));
    await put('api_keys', 'key-fixme', callerKey(plain.fixme));
    await put('rate_limit_policies', 'policy-good', LIMITED_POLICY);
    for (const b of BAD) if (b.atStart) await put(b.kind, b.id, b.doc);
    gw = await startAisix({ name: 'gateway', dir, role: 'gateway', etcd });
    await waitStatus(gw, `${gw.proxyUrl}/readyz`, 200);
  });

  after(async () => {
    await killAll([gw]);
    await upstream?.close();
    removeDir(dir);
  });

  test('bad rows on the initial load and on watch events are rejected, naming the field', async (t) => {
    for (const b of BAD) if (!b.atStart) await put(b.kind, b.id, b.doc);
    const s = await statusUntil(
      `all ${BAD.length} bad rows rejected`,
      (x) => x.rejected.length === BAD.length,
    );
    assert.equal(s.state, 'degraded');
    for (const r of s.rejected) t.diagnostic(`${r.resource_kind}/${r.resource_id}: ${r.last_error}`);
    for (const b of BAD) {
      const row = s.rejected.find((r) => r.resource_kind === b.kind && r.resource_id === b.id);
      assert.ok(row, `${b.kind}/${b.id} missing from rejected[]: ${JSON.stringify(s.rejected)}`);
      assert.equal(row.last_error_kind, 'schema_failed', JSON.stringify(row));
      assert.ok(
        row.last_error.startsWith(`schema validation failed at ${b.pointer}: ${b.detail ?? ''}`),
        `${b.kind}/${b.id}: "${row.last_error}" should name ${b.pointer}`,
      );
      assert.equal(row.serving_stale_since, undefined, 'never served, so nothing stale is served');
    }
    assert.deepEqual(
      s.applied?.resource_counts && {
        api_keys: s.applied.resource_counts.api_keys,
        models: s.applied.resource_counts.models,
        provider_keys: s.applied.resource_counts.provider_keys,
        rate_limit_policies: s.applied.resource_counts.rate_limit_policies,
        cache_policies: s.applied.resource_counts.cache_policies ?? 0,
      },
      { api_keys: 3, models: 1, provider_keys: 1, rate_limit_policies: 1, cache_policies: 0 },
    );
    assertNoSecrets(await statusText());
  });

  test('serving goes on: good keys answer, the good policy refuses the 4th request, bad rows do nothing', async () => {
    const before = upstream.calls.length;
    // key-good would get 1 request per hour if the bad-timezone policy were served.
    assert.deepEqual(await sequence(plain.good, 5), [200, 200, 200, 200, 200]);
    assert.deepEqual(await sequence(plain.limited, 5), [200, 200, 200, 429, 429]);
    // The broken policy for key-fixme (2 per hour) is not applied.
    assert.deepEqual(await sequence(plain.fixme, 4), [200, 200, 200, 200]);
    // The api key row with rpm -1 is not served: its caller is unknown.
    assert.equal(await chat(plain.bad), 401);
    // The model row with a mistyped tpm is not served: its alias is unknown.
    const unknownModel = await chatStatus(gw, plain.good, 'chat-2');
    assert.equal(unknownModel.status, 404, unknownModel.body);
    assert.equal(upstream.calls.length - before, 5 + 3 + 4, 'only admitted requests reach the upstream');
    assert.ok(!upstream.calls.some((c) => c.model === 'gpt-mock-2'));
    gw.assertAlive();
  });

  test('a served policy that turns bad keeps its last-known-good value and stays enforced', async () => {
    // Looser if it were applied (1000 per day), but `day` is not a classic window.
    await put('rate_limit_policies', 'policy-good', { ...LIMITED_POLICY, window: 'day', max_requests: 1000 });
    const s = await statusUntil('policy-good rejected and pinned', (x) =>
      x.rejected.some((r) => r.resource_id === 'policy-good'),
    );
    const row = s.rejected.find((r) => r.resource_id === 'policy-good');
    assert.ok(row?.last_error.startsWith('schema validation failed at /window: '), row?.last_error);
    assert.ok(row?.serving_stale_since, 'the last good value is still serving');
    assert.equal(s.applied?.resource_counts.rate_limit_policies, 1);
    await stillLimited(plain.limited, 3);
    assert.deepEqual(await sequence(plain.good, 2), [200, 200]);
  });

  test('fixing the rows in etcd: synced again, the repaired policy enforced, the repaired key served', async () => {
    for (const b of BAD) {
      if (b.fix === null) await del(b.kind, b.id);
      else await put(b.kind, b.id, b.fix);
    }
    await put('rate_limit_policies', 'policy-good', LIMITED_POLICY);
    const s = await statusUntil('synced with nothing rejected', (x) => x.state === 'synced');
    assert.deepEqual(s.rejected, []);
    const counts = s.applied?.resource_counts ?? {};
    assert.deepEqual(
      [
        counts.api_keys,
        counts.models,
        counts.provider_keys,
        counts.rate_limit_policies,
        counts.cache_policies,
      ],
      [4, 2, 2, 2, 1],
    );
    assertNoSecrets(await statusText());
    // The repaired conditional policy: 2 per hour for key-fixme, from now on.
    assert.deepEqual(await sequence(plain.fixme, 4), [200, 200, 429, 429]);
    assert.deepEqual(await sequence(plain.bad, 2), [200, 200]);
    await stillLimited(plain.limited, 3);
    assert.deepEqual(await sequence(plain.good, 3), [200, 200, 200]);
    const before = upstream.calls.length;
    assert.equal(await chat(plain.good, 'chat-2'), 200);
    assert.deepEqual(
      upstream.calls.slice(before).map((c) => c.model),
      ['gpt-mock-2'],
      'the repaired model is served',
    );
    gw.assertAlive();
  });
});
