import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSnapshot, type Docs } from '../test/fixtures.js';
import { compileGuardrailPlan } from './resolve.js';

const kw = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  kind: 'keyword',
  patterns: [{ kind: 'literal', value: name }],
  ...extra,
});

function plan(guardrails: Record<string, unknown>, attachments: Record<string, unknown> = {}) {
  const docs = { guardrails, guardrail_attachments: attachments } as Docs;
  const p = compileGuardrailPlan(buildSnapshot(docs));
  assert.ok(p);
  return p;
}

const names = (gs: readonly { name: string }[]) => gs.map((g) => g.name);

test('unattached guardrails: env-wide, oldest created_at first, undated last, id as the tiebreak', () => {
  const p = plan({
    b: kw('undated-b'),
    a: kw('undated-a'),
    n: kw('new', { created_at: '2026-02-01T00:00:00Z' }),
    o: kw('old', { created_at: '2025-01-01T00:00:00Z' }),
    d: kw('disabled', { enabled: false }),
  });
  assert.deepEqual(names(p.chainFor('m', 'k', undefined)), ['old', 'new', 'undated-a', 'undated-b']);
});

test('attachments: priority, then api_key > team > model > env; one place per guardrail; disabled rows scope but never apply', () => {
  const p = plan(
    { e: kw('env'), m: kw('model'), t: kw('team'), k: kw('key'), x: kw('scoped-off'), u: kw('unattached') },
    {
      a1: { guardrail_id: 'e', scope_type: 'env', priority: 5 },
      a2: { guardrail_id: 'm', scope_type: 'model', scope_id: 'm1', priority: 5 },
      a3: { guardrail_id: 't', scope_type: 'team', scope_id: 't1', priority: 5 },
      a4: { guardrail_id: 'k', scope_type: 'api_key', scope_id: 'k1', priority: 5 },
      a5: { guardrail_id: 'k', scope_type: 'env', priority: 0 },
      a6: { guardrail_id: 'x', scope_type: 'env', priority: 9, enabled: false },
      a7: { guardrail_id: 'e', scope_type: 'api_key', scope_id: 'k1', priority: 1 },
    },
  );
  assert.deepEqual(names(p.chainFor('m1', 'k1', 't1')), ['key', 'team', 'model', 'env', 'unattached']);
  // Another key, team and model: only env-scoped rows and unattached guardrails.
  assert.deepEqual(names(p.chainFor('m2', 'k2', undefined)), ['env', 'key', 'unattached']);
  assert.deepEqual(names(p.modelOnly('m1')), ['model']);
  assert.equal(p.modelScoped, true);
});

test('nothing enabled compiles to no plan (requests pay nothing)', () => {
  const docs = { guardrails: { a: kw('a', { enabled: false }) } } as Docs;
  assert.equal(compileGuardrailPlan(buildSnapshot(docs)), undefined);
});
