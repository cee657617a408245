/**
 * Conditional policies in the planner: condition trees (and/or/negate, ==, ~=, in, ~~, ~*),
 * leaves on dimensions a request lacks, empty conditions, group_by bucket keys in canonical
 * order and "a request lacking a grouped dimension is not subject", and which policies follow
 * the routing target (evaluated per target for groups, against the requested model otherwise).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileLimitPlan, type LimitPlan, type ModelFacts, type RequestFacts } from './plan.js';
import { buildSnapshot } from './test/snapshot.js';

const NOW = Date.UTC(2024, 0, 3, 12, 0, 0);
const gpt: ModelFacts = {
  id: 'm1',
  alias: 'gpt',
  modelName: 'gpt-4o-mini',
  provider: 'openai',
  group: false,
};
const claude: ModelFacts = {
  id: 'm2',
  alias: 'claude',
  modelName: 'Claude-3-5',
  provider: 'anthropic',
  group: false,
};
const grp: ModelFacts = { id: 'g1', alias: 'grp', group: true };

function planOf(policies: Record<string, Record<string, unknown>>): LimitPlan {
  const p = compileLimitPlan(buildSnapshot({ rate_limit_policies: policies }), () => NOW);
  assert.ok(p);
  assert.deepEqual(p.warnings, []);
  return p;
}

const f = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  apiKeyId: 'k1',
  team: 'blue',
  member: 'alice',
  requestedName: 'gpt',
  model: gpt,
  ...over,
});
const keys = (p: LimitPlan, r: RequestFacts) => p.requestBuckets(r, NOW).map((b) => b.key);
const hit = (p: LimitPlan, r: RequestFacts) => keys(p, r).length > 0;
const one = (conditions: unknown[], extra: Record<string, unknown> = {}) =>
  planOf({ p: { name: 'p', limits: { rpm: 5 }, conditions, ...extra } });

describe('conditional policies: condition trees', () => {
  it('absent or empty conditions select every request, in one shared bucket', () => {
    const p = planOf({
      a: { name: 'a', limits: { rpm: 5 } },
      b: { name: 'b', limits: { tpm: 9 }, conditions: [] },
    });
    const bs = p.requestBuckets(f({ team: undefined, member: undefined }), NOW);
    assert.deepEqual(
      bs.map((b) => b.key),
      ['policy:v2:a', 'policy:v2:b'],
    );
    assert.deepEqual(bs[0]?.policy, { id: 'a', name: 'a' });
    assert.equal(bs[0]?.layer, 'policy');
  });

  it('== / ~= / in on identity dimensions; top-level list is an AND', () => {
    const p = one([
      { dimension: 'team', operator: '==', value: 'blue' },
      { dimension: 'api_key', operator: '~=', value: 'k2' },
      { dimension: 'member', operator: 'in', value: ['alice', 'bob'] },
    ]);
    assert.equal(hit(p, f()), true);
    assert.equal(hit(p, f({ apiKeyId: 'k2' })), false);
    assert.equal(hit(p, f({ member: 'carol' })), false);
    assert.equal(hit(p, f({ team: 'red' })), false);
  });

  it('a leaf on a missing dimension is false, and negate then makes it true', () => {
    const eq = one([{ dimension: 'team', operator: '~=', value: 'red' }]);
    assert.equal(hit(eq, f({ team: undefined })), false, '~= on a missing team is still false');
    const neg = one([{ dimension: 'team', operator: '==', value: 'red', negate: true }]);
    assert.equal(hit(neg, f({ team: undefined })), true);
    assert.equal(hit(neg, f({ team: 'red' })), false);
  });

  it('groups: or, and, negate, nested', () => {
    const p = one([
      {
        logic: 'or',
        children: [
          { dimension: 'member', operator: '==', value: 'alice' },
          {
            logic: 'and',
            negate: true,
            children: [
              { dimension: 'team', operator: '==', value: 'blue' },
              { dimension: 'api_key', operator: 'in', value: ['k1', 'k3'] },
            ],
          },
        ],
      },
    ]);
    assert.equal(hit(p, f()), true, 'alice');
    assert.equal(hit(p, f({ member: 'bob' })), false, 'blue and k1 -> and is true, negated false');
    assert.equal(hit(p, f({ member: 'bob', apiKeyId: 'k2' })), true);
    assert.equal(hit(p, f({ member: 'bob', team: 'red' })), true);
  });

  it('regex on model_name (~~ case-sensitive, ~* insensitive) and provider, unanchored search', () => {
    const cs = one([{ dimension: 'model_name', operator: '~~', value: 'claude' }]);
    assert.equal(hit(cs, f({ model: claude })), false);
    const ci = one([{ dimension: 'model_name', operator: '~*', value: 'claude-3' }]);
    assert.equal(hit(ci, f({ model: claude })), true);
    assert.equal(hit(ci, f()), false);
    const prov = one([{ dimension: 'provider', operator: '~~', value: '^open' }]);
    assert.equal(hit(prov, f()), true);
    assert.equal(hit(prov, f({ model: { ...gpt, provider: undefined } })), false, 'missing provider');
  });
});

describe('conditional policies: regexes run in linear time', () => {
  it('a pattern that backtracks catastrophically in a JS RegExp answers at once', () => {
    // `^(a+)+$` against 26 a's and a "!" takes seconds in V8 (twice as long per extra "a"),
    // blocking every request; the upstream name behind a wildcard alias is the caller's choice.
    const p = one([{ dimension: 'model_name', operator: '~~', value: '^(a+)+$' }]);
    const evil = f({ model: { ...gpt, modelName: `${'a'.repeat(26)}!` } });
    const t0 = performance.now();
    assert.equal(hit(p, evil), false);
    assert.ok(performance.now() - t0 < 250, `took ${Math.round(performance.now() - t0)} ms`);
    assert.equal(hit(p, f({ model: { ...gpt, modelName: 'aaaa' } })), true);
    const ci = one([{ dimension: 'model_name', operator: '~*', value: '(?:X+)+Y' }]);
    assert.equal(hit(ci, f({ model: { ...gpt, modelName: `${'x'.repeat(30)}` } })), false);
    assert.equal(hit(ci, f({ model: { ...gpt, modelName: 'xxy' } })), true, '~* is case-insensitive');
  });
});

describe('conditional policies: group_by', () => {
  it('bucket keys list dimensions in canonical order whatever the config order', () => {
    const p = planOf({ p: { name: 'p', limits: { rpm: 5 }, group_by: ['provider', 'member', 'team'] } });
    assert.deepEqual(keys(p, f()), ['policy:v2:p:team=blue:member=alice:provider=openai']);
    const q = planOf({ q: { name: 'q', limits: { rpm: 5 }, group_by: ['model', 'api_key'] } });
    assert.deepEqual(keys(q, f()), ['policy:v2:q:api_key=k1:model=m1']);
  });

  it('a request lacking a grouped dimension is not subject', () => {
    const p = planOf({ p: { name: 'p', limits: { rpm: 5 }, group_by: ['team', 'member'] } });
    assert.deepEqual(keys(p, f({ member: undefined })), []);
    assert.deepEqual(keys(p, f({ team: undefined })), []);
    const q = planOf({ q: { name: 'q', limits: { rpm: 5 }, group_by: ['provider'] } });
    assert.deepEqual(keys(q, f({ model: { ...gpt, provider: undefined } })), []);
  });

  it('buckets carry the policy limits and ref', () => {
    const p = planOf({ p: { name: 'per-team', limits: { tpm: 100, concurrency: 2 }, group_by: ['team'] } });
    const [b] = p.requestBuckets(f(), NOW);
    assert.deepEqual(b, {
      key: 'policy:v2:p:team=blue',
      limits: { tpm: 100, concurrency: 2 },
      layer: 'policy',
      policy: { id: 'p', name: 'per-team' },
    });
  });
});

describe('conditional policies: which follow the routing target', () => {
  const p = planOf({
    byTeam: {
      name: 'team',
      limits: { rpm: 5 },
      conditions: [{ dimension: 'team', operator: '==', value: 'blue' }],
    },
    byProvider: {
      name: 'prov',
      limits: { rpm: 5 },
      conditions: [{ dimension: 'provider', operator: '==', value: 'anthropic' }],
    },
    byModel: { name: 'model', limits: { rpm: 5 }, group_by: ['model'] },
    byName: {
      name: 'name',
      limits: { rpm: 5 },
      conditions: [{ dimension: 'model_name', operator: '~*', value: 'gpt' }],
    },
  });

  it('direct model: model-following policies are evaluated against the requested model', () => {
    assert.deepEqual(keys(p, f()), ['policy:v2:byModel:model=m1', 'policy:v2:byName', 'policy:v2:byTeam']);
    assert.deepEqual(keys(p, f({ model: claude, requestedName: 'claude' })), [
      'policy:v2:byModel:model=m2',
      'policy:v2:byProvider',
      'policy:v2:byTeam',
    ]);
  });

  it('group: request-level ones at the gate, model-following ones per target, never against the group', () => {
    const r = f({ model: grp, requestedName: 'grp' });
    assert.deepEqual(keys(p, r), ['policy:v2:byTeam']);
    assert.deepEqual(
      p.targetBuckets(r, claude, NOW).map((b) => b.key),
      ['policy:v2:byModel:model=m2', 'policy:v2:byProvider'],
    );
    assert.deepEqual(
      p.targetBuckets(r, { ...gpt, limits: { rpm: 1 } }, NOW).map((b) => b.key),
      ['model:gpt', 'policy:v2:byModel:model=m1', 'policy:v2:byName'],
    );
  });

  it('a mixed condition (team and provider) follows the target and still sees the caller', () => {
    const q = planOf({
      mix: {
        name: 'mix',
        limits: { rpm: 5 },
        conditions: [
          { dimension: 'team', operator: '==', value: 'blue' },
          { dimension: 'provider', operator: '==', value: 'openai' },
        ],
      },
    });
    const r = f({ model: grp, requestedName: 'grp' });
    assert.deepEqual(keys(q, r), []);
    assert.equal(q.targetBuckets(r, gpt, NOW).length, 1);
    assert.equal(q.targetBuckets({ ...r, team: 'red' }, gpt, NOW).length, 0);
  });
});
