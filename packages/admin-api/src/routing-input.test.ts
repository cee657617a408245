/**
 * The routing and runtime-health knobs of a model (control-plane §3.2: `routing`, `cost`,
 * `cooldown`, `background_model_check`) over real HTTP: a document using every knob is stored
 * and read back as written (defaults filled); each bad value gets 400 `{"error_msg": "schema
 * validation failed at <pointer>: ..."}` naming the field, on POST and on PUT over the good row,
 * and the good row stays as it was.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminOnStore, createProviderKey, embeddedStoreFactory, obj } from './testing/harness.js';

const group = (routing: Record<string, unknown>) => ({
  display_name: 'grp',
  routing: { targets: [{ model: 'chat-a' }, { model: 'chat-b' }], ...routing },
});
const direct = (extra: Record<string, unknown>) => ({
  display_name: 'chat-x',
  provider: 'openai',
  model_name: 'gpt-x',
  provider_key_id: 'pk-1',
  ...extra,
});
const check = {
  enabled: true,
  interval_seconds: 5,
  timeout_seconds: 2,
  prompt: 'ping',
  max_tokens: 1,
  stale_after_seconds: 60,
};

const GOOD_GROUP = group({
  strategy: 'weighted',
  targets: [
    { model: 'chat-a', weight: 3, tags: ['eu', 'default'] },
    { model: 'chat-b', weight: 0, tags: [] },
  ],
  retries: 2,
  max_fallbacks: 1,
  retry_on_429: true,
  fallback_on_statuses: [404, 409],
  when_all_unavailable: 'try_anyway',
  sticky: true,
});
const GOOD_DIRECT = direct({
  cost: { input_per_1k: 0.15, output_per_1k: 0.6 },
  cooldown: {
    enabled: true,
    default_seconds: 0,
    max_seconds: 60,
    honor_retry_after: false,
    trigger_statuses: [429, 503],
    trigger_on_timeout: false,
    trigger_on_transport: true,
  },
  background_model_check: { ...check, ignore_statuses: [429] },
});

/** [label, document, pointer, mentions?] */
const BAD: [string, Record<string, unknown>, string, string?][] = [
  ['unknown strategy', group({ strategy: 'random' }), '/routing/strategy'],
  ['no targets', group({ targets: [] }), '/routing/targets'],
  ['target without model', group({ targets: [{ weight: 1 }] }), '/routing/targets/0', 'model'],
  ['negative weight', group({ targets: [{ model: 'a', weight: -1 }] }), '/routing/targets/0/weight'],
  ['fractional weight', group({ targets: [{ model: 'a', weight: 1.5 }] }), '/routing/targets/0/weight'],
  ['tag not a string', group({ targets: [{ model: 'a', tags: [7] }] }), '/routing/targets/0/tags/0'],
  ['negative retries', group({ retries: -1 }), '/routing/retries'],
  ['max_fallbacks a string', group({ max_fallbacks: '1' }), '/routing/max_fallbacks'],
  ['retry_on_429 a string', group({ retry_on_429: 'yes' }), '/routing/retry_on_429'],
  ['fallback status below 400', group({ fallback_on_statuses: [399] }), '/routing/fallback_on_statuses/0'],
  [
    'fallback status above 599',
    group({ fallback_on_statuses: [404, 600] }),
    '/routing/fallback_on_statuses/1',
  ],
  ['when_all_unavailable unknown', group({ when_all_unavailable: 'maybe' }), '/routing/when_all_unavailable'],
  ['sticky a number', group({ sticky: 1 }), '/routing/sticky'],
  ['unknown routing field', group({ fallbacks: ['x'] }), '/routing', 'fallbacks'],
  ['negative cost', direct({ cost: { input_per_1k: -1, output_per_1k: 0 } }), '/cost/input_per_1k'],
  ['cost without output', direct({ cost: { input_per_1k: 1 } }), '/cost', 'output_per_1k'],
  ['cooldown max_seconds 0', direct({ cooldown: { max_seconds: 0 } }), '/cooldown/max_seconds'],
  ['cooldown trigger 600', direct({ cooldown: { trigger_statuses: [600] } }), '/cooldown/trigger_statuses/0'],
  [
    'check interval below 5',
    direct({ background_model_check: { ...check, interval_seconds: 4 } }),
    '/background_model_check/interval_seconds',
  ],
  [
    'check timeout 0',
    direct({ background_model_check: { ...check, timeout_seconds: 0 } }),
    '/background_model_check/timeout_seconds',
  ],
  [
    'check without prompt',
    direct({ background_model_check: { ...check, prompt: undefined } }),
    '/background_model_check',
    'prompt',
  ],
  [
    'check ignore status 99',
    direct({ background_model_check: { ...check, ignore_statuses: [99] } }),
    '/background_model_check/ignore_statuses/0',
  ],
  ['check on a group', { ...group({}), background_model_check: check }, '', 'background_model_check'],
];

const good = new Map<string, { id: string; json: unknown }>();

const s = adminOnStore(embeddedStoreFactory, {}, async () => {
  // What the good documents reference must exist (references are checked on write).
  const pk = await createProviderKey(s.admin);
  for (const name of ['chat-a', 'chat-b']) {
    const r = await s.admin.call('POST', '/admin/v1/models', {
      body: { display_name: name, provider: 'openai', model_name: name, provider_key_id: pk },
    });
    assert.equal(r.status, 200, r.text);
  }
  for (const doc of [GOOD_GROUP, { ...GOOD_DIRECT, provider_key_id: pk }]) {
    const r = await s.admin.call('POST', '/admin/v1/models', { body: doc });
    assert.equal(r.status, 200, r.text);
    const id = String(obj(r.json).id);
    const got = await s.admin.call('GET', `/admin/v1/models/${id}`);
    good.set(String(doc.display_name), { id, json: got.json });
  }
});

it('a group and a direct model using every routing/health knob are stored as written', () => {
  const g = obj(obj(good.get('grp')?.json).value);
  assert.deepEqual(g.routing, GOOD_GROUP.routing);
  const d = obj(obj(good.get('chat-x')?.json).value);
  const want = GOOD_DIRECT as Record<string, unknown>;
  for (const k of ['cost', 'cooldown', 'background_model_check']) assert.deepEqual(d[k], want[k], k);
});

describe('bad routing knobs → 400 naming the field', () => {
  for (const [label, doc, pointer, mentions] of BAD) {
    it(`${label} → 400 at ${pointer || '(root)'}`, async () => {
      const body = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
      const expectOne = (r: { status: number; text: string; json: unknown }) => {
        assert.equal(r.status, 400, r.text);
        const msg = String(obj(r.json).error_msg);
        assert.ok(
          msg.startsWith(`schema validation failed at ${pointer}: `),
          `expected pointer ${pointer}: ${msg}`,
        );
        if (mentions !== undefined) assert.ok(msg.includes(mentions), `"${msg}" should mention ${mentions}`);
      };
      expectOne(await s.admin.call('POST', '/admin/v1/models', { body }));
      const row = good.get(body.routing ? 'grp' : 'chat-x');
      assert.ok(row);
      expectOne(await s.admin.call('PUT', `/admin/v1/models/${row.id}`, { body }));
      const after = await s.admin.call('GET', `/admin/v1/models/${row.id}`);
      assert.deepEqual(after.json, row.json, 'the bad PUT changed the stored row');
    });
  }
});
