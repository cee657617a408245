/**
 * The planner on real snapshots: nothing to do without limits, layer order and bucket keys of
 * §9.4, classic policy scopes (team_member one bucket per member), window mapping and the
 * max_tokens warning, model-scope policies following the target, suspension by schedule,
 * bucket reuse across requests, and malformed rows skipped with a warning instead of a throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileLimitPlan, type LimitPlan, type ModelFacts, type RequestFacts } from './plan.js';
import { compilePolicy } from './policies.js';
import { apiKey, buildSnapshot, type Docs, direct } from './test/snapshot.js';

const NOW = Date.UTC(2024, 0, 3, 12, 0, 0); // a Wednesday, noon UTC

function plan(docs: Docs): LimitPlan {
  const p = compileLimitPlan(buildSnapshot(docs), () => NOW);
  assert.ok(p !== undefined);
  return p;
}

const m1: ModelFacts = { id: 'm1', alias: 'gpt', modelName: 'gpt-4o', provider: 'openai', group: false };
const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  apiKeyId: 'k1',
  requestedName: 'gpt',
  model: m1,
  ...over,
});
const keys = (bs: { key: string }[]) => bs.map((b) => b.key);

describe('compileLimitPlan: layers and inline limits', () => {
  it('is undefined when nothing configures a limit', () => {
    const snap = buildSnapshot({
      api_keys: { k1: apiKey('k1'), k2: apiKey('k2', { rate_limit: {} }) },
      models: { m1: direct('gpt') },
    });
    assert.equal(compileLimitPlan(snap), undefined);
  });

  it('exists as soon as a key, a model or a policy has a limit', () => {
    assert.ok(
      compileLimitPlan(buildSnapshot({ api_keys: { k1: apiKey('k1', { rate_limit: { rpm: 1 } }) } })),
    );
    assert.ok(compileLimitPlan(buildSnapshot({ models: { m1: direct('gpt', { rate_limit: { tpm: 0 } }) } })));
    assert.ok(
      compileLimitPlan(
        buildSnapshot({
          rate_limit_policies: {
            p1: { name: 'p', scope: 'team', scope_ref: 't', window: 'minute', max_requests: 1 },
          },
        }),
      ),
    );
  });

  it('orders buckets key, requested model, policies by id; reuses the bucket objects', () => {
    const p = plan({
      api_keys: { k1: apiKey('k1', { rate_limit: { rpm: 10, concurrency: 2 } }) },
      rate_limit_policies: {
        zz: { name: 'last', scope: 'api_key', scope_ref: 'k1', window: 'second', max_requests: 5 },
        aa: { name: 'first', scope: 'api_key', scope_ref: 'k1', window: 'hour', max_requests: 500 },
      },
    });
    const f = facts({ model: { ...m1, limits: { tpm: 1000 } } });
    const a = p.requestBuckets(f, NOW);
    assert.deepEqual(keys(a), ['k1', 'model:gpt', 'policy:api_key:k1:aa', 'policy:api_key:k1:zz']);
    assert.deepEqual(
      a.map((b) => b.layer),
      ['api_key', 'model', 'policy', 'policy'],
    );
    assert.deepEqual(a[0]?.limits, { rpm: 10, concurrency: 2 });
    assert.deepEqual(a[2]?.policy, { id: 'aa', name: 'first' });
    assert.deepEqual(a[2]?.limits, { rph: 500 });
    const b = p.requestBuckets(f, NOW);
    assert.notEqual(a, b, 'a fresh array per call');
    for (let i = 0; i < a.length; i++) assert.equal(a[i], b[i], 'the same Bucket objects');
  });

  it('names the model bucket after the requested name (wildcard aliases) and drops unknown fields', () => {
    const p = plan({ api_keys: { k1: apiKey('k1', { rate_limit: { rpm: 1 } }) } });
    const limits = { rpm: 3, bogus: 7 } as unknown as ModelFacts['limits'];
    const got = p.requestBuckets(facts({ requestedName: 'mock/foo', model: { ...m1, limits } }), NOW);
    assert.deepEqual(keys(got), ['k1', 'model:mock/foo']);
    assert.deepEqual(got[1]?.limits, { rpm: 3 });
    assert.equal(p.requestBuckets(facts({ model: { ...m1, limits: {} } }), NOW).length, 1);
  });

  it('a key without inline limits and without policies gets no bucket', () => {
    const p = plan({ api_keys: { k1: apiKey('k1', { rate_limit: { rpm: 1 } }), k2: apiKey('k2') } });
    assert.deepEqual(p.requestBuckets(facts({ apiKeyId: 'k2' }), NOW), []);
  });

  it('modelFacts reads a model resource (cached), with the substituted model_name when given', () => {
    const snap = buildSnapshot({
      models: {
        m1: direct('gpt', { model_name: 'up-*', rate_limit: { rpm: 2 } }),
        g: { display_name: 'grp', routing: { targets: [{ model: 'gpt' }] } },
      },
    });
    const p = compileLimitPlan(snap) as LimitPlan;
    const res = snap.byId('models').get('m1');
    assert.ok(res);
    const f = p.modelFacts(res);
    assert.equal(f, p.modelFacts(res));
    assert.deepEqual(
      { ...f },
      { id: 'm1', alias: 'gpt', limits: { rpm: 2 }, modelName: 'up-*', provider: 'openai', group: false },
    );
    assert.equal(p.modelFacts(res, 'up-x').modelName, 'up-x');
    assert.equal(p.modelFacts(snap.byId('models').get('g') as typeof res).group, true);
  });
});

describe('compileLimitPlan: classic policies', () => {
  const docs: Docs = {
    rate_limit_policies: {
      pk: {
        name: 'key',
        scope: 'api_key',
        scope_ref: 'k1',
        window: 'minute',
        max_requests: 10,
        max_tokens: 99,
      },
      pt: { name: 'team', scope: 'team', scope_ref: 'blue', window: 'second', max_requests: 2 },
      pm: { name: 'member', scope: 'member', scope_ref: 'alice', window: 'hour', max_requests: 50 },
      ptm: { name: 'tm', scope: 'team_member', scope_ref: 'blue', window: 'minute', max_tokens: 1000 },
      pmod: { name: 'model', scope: 'model', scope_ref: 'm1', window: 'minute', max_requests: 7 },
    },
  };

  it('applies by scope_ref: key id, team_id, user_id, team_member per member, model id', () => {
    const p = plan(docs);
    const got = p.requestBuckets(facts({ team: 'blue', member: 'alice' }), NOW);
    assert.deepEqual(keys(got), [
      'policy:api_key:k1:pk',
      'policy:member:alice:pm',
      'policy:model:m1:pmod',
      'policy:team:blue:pt',
      'policy:team_member:blue:ptm:alice',
    ]);
    assert.deepEqual(got[0]?.limits, { rpm: 10, tpm: 99 });
    assert.deepEqual(got[3]?.limits, { rps: 2 });
    assert.deepEqual(got[4]?.limits, { tpm: 1000 });
  });

  it('team_member: one bucket per member; keys without user_id or of another team are not subject', () => {
    const p = plan(docs);
    const bob = p.requestBuckets(facts({ apiKeyId: 'k9', team: 'blue', member: 'bob' }), NOW);
    assert.ok(keys(bob).includes('policy:team_member:blue:ptm:bob'));
    const anon = p.requestBuckets(facts({ apiKeyId: 'k9', team: 'blue' }), NOW);
    assert.ok(!keys(anon).some((k) => k.startsWith('policy:team_member')));
    const red = p.requestBuckets(facts({ apiKeyId: 'k9', team: 'red', member: 'bob' }), NOW);
    assert.ok(!keys(red).some((k) => k.startsWith('policy:team')));
    assert.equal(
      p
        .requestBuckets(facts({ apiKeyId: 'k9', team: 'blue', member: 'bob' }), NOW)
        .find((b) => b.key.endsWith(':bob')),
      bob.find((b) => b.key.endsWith(':bob')),
      'member buckets are cached',
    );
  });

  it('model scope follows the target: the requested direct model, or each group target', () => {
    const p = plan(docs);
    const group: ModelFacts = { id: 'g1', alias: 'grp', group: true, limits: { rpm: 100 } };
    const req = facts({ apiKeyId: 'k9', requestedName: 'grp', model: group });
    assert.deepEqual(keys(p.requestBuckets(req, NOW)), ['model:grp']);
    const target: ModelFacts = { ...m1, limits: { concurrency: 4 } };
    assert.deepEqual(keys(p.targetBuckets(req, target, NOW)), ['model:gpt', 'policy:model:m1:pmod']);
    const other: ModelFacts = { id: 'm2', alias: 'other', group: false };
    assert.deepEqual(p.targetBuckets(req, other, NOW), []);
    // A model policy naming the group itself never applies (it follows targets).
    const q = plan({
      rate_limit_policies: {
        g: { name: 'g', scope: 'model', scope_ref: 'g1', window: 'minute', max_requests: 1 },
      },
    });
    assert.deepEqual(keys(q.requestBuckets(req, NOW)), ['model:grp']);
    assert.deepEqual(keys(q.targetBuckets(req, target, NOW)), ['model:gpt']);
  });

  it('max_tokens on second/hour windows is ignored with a warning; a policy left empty is skipped', () => {
    const p = plan({
      rate_limit_policies: {
        a: { name: 'a', scope: 'api_key', scope_ref: 'k1', window: 'hour', max_requests: 5, max_tokens: 10 },
        b: { name: 'b', scope: 'api_key', scope_ref: 'k1', window: 'second', max_tokens: 10 },
      },
    });
    const got = p.requestBuckets(facts(), NOW);
    assert.deepEqual(keys(got), ['policy:api_key:k1:a']);
    assert.deepEqual(got[0]?.limits, { rph: 5 });
    assert.equal(p.warnings.length, 2, 'one line per policy');
    assert.match(p.warnings[0] as string, /^rate_limit_policies\/a: max_tokens is ignored for window "hour"/);
    assert.match(
      p.warnings[1] as string,
      /^rate_limit_policies\/b: max_tokens is ignored .*; skipped: no usable limit/,
    );
  });

  it('suspended policies are left out while a schedule window is open', () => {
    const p = plan({
      rate_limit_policies: {
        s: {
          name: 'nights',
          scope: 'api_key',
          scope_ref: 'k1',
          window: 'minute',
          max_requests: 1,
          schedules: [{ timezone: 'UTC', days_of_week: ['wed'], start_time: '11:00', end_time: '13:00' }],
        },
      },
    });
    assert.deepEqual(p.requestBuckets(facts(), NOW), []);
    assert.equal(p.requestBuckets(facts(), NOW + 3_600_000).length, 1);
    assert.deepEqual(p.requestBuckets(facts()), [], 'nowMs defaults to the plan clock');
  });

  it('malformed rows are skipped with a reason, never thrown', () => {
    const warn: string[] = [];
    const w = (m: string) => warn.push(m);
    assert.equal(compilePolicy('x', null, w), 'not an object');
    assert.equal(
      compilePolicy('x', { name: 'x', scope: 'planet', scope_ref: 'a', window: 'minute' }, w),
      'unknown scope',
    );
    assert.equal(compilePolicy('x', { name: 'x', limits: {} }, w), 'limits sets no dimension');
    assert.equal(
      compilePolicy(
        'x',
        {
          name: 'x',
          limits: { rpm: 1 },
          conditions: [{ dimension: 'provider', operator: '~~', value: '(' }],
        },
        w,
      ),
      'regex does not compile',
    );
    assert.equal(
      compilePolicy(
        'x',
        { name: 'x', limits: { rpm: 1 }, conditions: [{ dimension: 'team', operator: '~~', value: 'a' }] },
        w,
      ),
      'regex operators apply to model_name and provider only',
    );
    assert.equal(
      compilePolicy('x', { name: 'x', limits: { rpm: 1 }, group_by: ['team', 'team'] }, w),
      'group_by repeats a dimension',
    );
    assert.equal(
      compilePolicy(
        'x',
        {
          name: 'x',
          scope: 'team',
          scope_ref: 't',
          window: 'minute',
          max_requests: 1,
          schedules: [{ timezone: 'Mars/Base' }],
        },
        w,
      ),
      'a schedule has an unknown timezone',
    );
  });
});
