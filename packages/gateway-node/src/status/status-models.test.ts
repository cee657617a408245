/**
 * `/status/models` rows for configurations that cannot serve (issue 13): a reference that
 * resolves to nothing, in any model shape, or a provider key with no dispatch path, is
 * `unavailable` with `status_reason` and a `status_detail` naming the field, with and without a
 * proxy in the process (tracker rows and the plain rows); everything else keeps its status.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errors } from '../errors.js';
import { ModelHealthTracker } from '../health/tracker.js';
import { buildSnapshot } from '../test/fixtures.js';
import { modelStatusRows } from './server.js';

const snapshot = buildSnapshot({
  provider_keys: {
    pk1: { display_name: 'oa', api_key: 'sk-a', provider: 'openai' },
    old: { display_name: 'old', api_key: 'sk-b', provider: 'acme' },
  },
  models: {
    ok: { display_name: 'ok', provider: 'openai', model_name: 'x', provider_key_id: 'pk1' },
    wild: { display_name: 'openai/*', provider: 'openai', model_name: '*', provider_key_id: 'pk1' },
    gone: { display_name: 'gone', provider: 'openai', model_name: 'x', provider_key_id: 'deleted-pk' },
    legacy: { display_name: 'legacy', provider: 'acme', model_name: 'x', provider_key_id: 'old' },
    grp: { display_name: 'grp', routing: { targets: [{ model: 'ok' }, { model: 'openai/gpt-4o' }] } },
    broken: { display_name: 'broken', routing: { targets: [{ model: 'ok' }, { model: 'nothing' }] } },
  },
});

const expected = [
  {
    id: 'broken',
    display_name: 'broken',
    kind: 'routing',
    status: 'unavailable',
    status_reason: 'unresolved_reference',
    status_detail:
      '/routing/targets/1/model: "nothing" names no model (neither an alias nor matched by a wildcard alias)',
  },
  {
    id: 'gone',
    display_name: 'gone',
    kind: 'direct',
    status: 'unavailable',
    status_reason: 'unresolved_reference',
    status_detail: '/provider_key_id: "deleted-pk" is not the id of any provider key',
  },
  { id: 'grp', display_name: 'grp', kind: 'routing', status: 'not_applicable' },
  {
    id: 'legacy',
    display_name: 'legacy',
    kind: 'direct',
    status: 'unavailable',
    status_reason: 'provider_key_unusable',
    status_detail: '/provider_key_id: provider key "old" has neither a known provider nor an adapter',
  },
  { id: 'ok', display_name: 'ok', kind: 'direct', status: 'healthy' },
  { id: 'wild', display_name: 'openai/*', kind: 'direct', status: 'healthy' },
];

test('unresolved references and unusable provider keys are unavailable, with the field', () => {
  assert.deepEqual(modelStatusRows(snapshot), expected);
  assert.deepEqual(new ModelHealthTracker().statusRows(snapshot), expected);
});

test('unavailable wins over a cooldown: the configuration, not the upstream, is the problem', () => {
  const t = new ModelHealthTracker(() => 1_000_000);
  const failure = { error: errors.upstream5xx(503), retryable: true, timeout: false, status: 503 };
  for (const id of ['gone', 'ok']) {
    const model = snapshot.byId('models').get(id);
    assert.ok(model);
    t.recordFailure(model, failure);
  }
  const rows = t.statusRows(snapshot);
  assert.equal(rows.find((r) => r.id === 'ok')?.status, 'cooldown', 'the failure did cool a target down');
  assert.equal(rows.find((r) => r.id === 'gone')?.status, 'unavailable');
});
