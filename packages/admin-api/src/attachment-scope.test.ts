/**
 * Guardrail attachments and their `scope_id`, over real HTTP on both stores (control-plane
 * §3.7). A guardrail with no attachment applies to every request; once any attachment names
 * it, only attachments govern it. An attachment scoped to a model, an api key or a team
 * therefore has to say which one: without a `scope_id` it would match no request and still
 * take the guardrail out of its implicit env scope, switching it off everywhere. Such a write
 * is a 400 in the error envelope and stores nothing; an `env` attachment needs no `scope_id`.
 */
import assert from 'node:assert/strict';
import { before, it } from 'node:test';
import { createProviderKey, describeOnBothStores, obj } from './testing/harness.js';

describeOnBothStores('guardrail attachment scope_id', (s) => {
  let guard: string;
  let model: string;
  let key: string;

  const post = async (kind: string, body: unknown): Promise<{ id: string; revision: number }> => {
    const r = await s.admin.call('POST', `/admin/v1/${kind}`, { body });
    assert.equal(r.status, 200, `${kind}: ${r.text}`);
    return { id: String(obj(r.json).id), revision: Number(obj(r.json).revision) };
  };

  before(async () => {
    const pk = await createProviderKey(s.admin);
    model = (
      await post('models', { display_name: 'chat', provider: 'openai', model_name: 'g', provider_key_id: pk })
    ).id;
    key = (await post('api_keys', { allowed_models: ['chat'] })).id;
    guard = (
      await post('guardrails', { name: 'g', kind: 'keyword', patterns: [{ kind: 'literal', value: 'x' }] })
    ).id;
  });

  const refused = (r: { status: number; json: unknown; text: string }, pointer: string, scope: string) => {
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(Object.keys(obj(r.json)), ['error_msg']);
    const msg = String(obj(r.json).error_msg);
    assert.ok(msg.startsWith(`schema validation failed at ${pointer}: `), msg);
    assert.ok(msg.includes('scope_id') || pointer === '/scope_id', msg);
    assert.ok(msg.includes(scope), msg);
  };

  it('a model, api_key or team attachment without scope_id (absent, null or "") is 400; nothing stored', async () => {
    const before = await s.h.rawCount('guardrail_attachments');
    for (const scope_type of ['model', 'api_key', 'team']) {
      const base = { guardrail_id: guard, scope_type, priority: 1 };
      refused(await s.admin.call('POST', '/admin/v1/guardrail_attachments', { body: base }), '', scope_type);
      refused(
        await s.admin.call('POST', '/admin/v1/guardrail_attachments', { body: { ...base, scope_id: null } }),
        '',
        scope_type,
      );
      refused(
        await s.admin.call('POST', '/admin/v1/guardrail_attachments', { body: { ...base, scope_id: '' } }),
        '/scope_id',
        scope_type,
      );
    }
    assert.equal(await s.h.rawCount('guardrail_attachments'), before, 'nothing stored');
  });

  it('a PUT or PATCH that drops the scope_id of a scoped attachment is 400 and leaves it as it was', async () => {
    const att = await post('guardrail_attachments', {
      guardrail_id: guard,
      scope_type: 'model',
      scope_id: model,
      priority: 1,
    });
    const path = `/admin/v1/guardrail_attachments/${att.id}`;
    refused(
      await s.admin.call('PUT', path, { body: { guardrail_id: guard, scope_type: 'model', priority: 1 } }),
      '',
      'model',
    );
    refused(await s.admin.call('PATCH', path, { body: { scope_id: null } }), '', 'model');
    // Moving an env attachment to a team scope needs the team.
    const env = await post('guardrail_attachments', { guardrail_id: guard, scope_type: 'env', priority: 0 });
    refused(
      await s.admin.call('PATCH', `/admin/v1/guardrail_attachments/${env.id}`, {
        body: { scope_type: 'team' },
      }),
      '',
      'team',
    );
    const now = await s.admin.call('GET', path);
    assert.equal(obj(now.json).revision, att.revision, 'unchanged');
    assert.equal(obj(obj(now.json).value).scope_id, model);
  });

  it('an env attachment needs no scope_id, and scoped ones with one are accepted', async () => {
    await post('guardrail_attachments', { guardrail_id: guard, scope_type: 'env', priority: 2 });
    await post('guardrail_attachments', {
      guardrail_id: guard,
      scope_type: 'env',
      scope_id: null,
      priority: 2,
    });
    await post('guardrail_attachments', {
      guardrail_id: guard,
      scope_type: 'api_key',
      scope_id: key,
      priority: 3,
    });
    await post('guardrail_attachments', {
      guardrail_id: guard,
      scope_type: 'team',
      scope_id: 'team-a',
      priority: 3,
    });
  });

  it('a row a direct writer stored without scope_id still reads back (the read path stays lenient)', async () => {
    const id = 'direct-no-scope-id';
    await s.h.putRaw(
      'guardrail_attachments',
      id,
      JSON.stringify({ guardrail_id: guard, scope_type: 'model', priority: 1 }),
    );
    const r = await s.admin.call('GET', '/admin/v1/guardrail_attachments');
    assert.equal(r.status, 200, r.text);
    const ids = (r.json as { id: string }[]).map((e) => e.id);
    assert.ok(ids.includes(id), 'listed');
  });
});
