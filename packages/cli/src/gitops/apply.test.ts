/**
 * `executePlan` against a real Admin API (the admin app on a loopback listener over the
 * embedded store): an entry written by someone else between plan and apply stops the run
 * before that step, and nothing after it is written.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createAdminApp, startAdminServer } from '@aisix/admin-api';
import { loadResourcesFile } from '@aisix/core';
import { openEmbeddedStore } from '@aisix/store';
import { pino } from 'pino';
import { AdminApi } from './admin-client.js';
import { executePlan } from './apply.js';
import { buildPlan } from './plan.js';

const KEY = 'gitops-apply-test-admin-key';
const dir = mkdtempSync(join(tmpdir(), 'aisix-gitops-'));
let close: () => Promise<void>;
let api: AdminApi;
let baseUrl: string;

before(async () => {
  const store = await openEmbeddedStore({ dir, prefix: '/aisix' });
  const app = createAdminApp({
    store: store.store,
    adminKeys: [KEY],
    mode: { type: 'embedded' },
    logger: pino({ level: 'silent' }),
  });
  const server = await startAdminServer(app, { host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${server.port}`;
  api = new AdminApi(baseUrl, KEY);
  close = async () => {
    await server.close();
    await store.close();
  };
});

after(async () => {
  await close();
  rmSync(dir, { recursive: true, force: true });
});

const FILE = `_format_version: "1"
provider_keys:
  - display_name: pk
    provider: openai
    api_key: sk-apply-test-000000
models:
  - display_name: chat
    provider: openai
    model_name: gpt
    provider_key: pk
    timeout: 1000
api_keys:
  - display_name: caller
    key_hash: ${'e'.repeat(64)}
    allowed_models: [chat]
`;

test('a revision that moved after the plan stops apply before that step', async () => {
  const pk = await api.create('provider_keys', {
    display_name: 'pk',
    provider: 'openai',
    api_key: 'sk-apply-test-000000',
  });
  const chat = await api.create('models', {
    display_name: 'chat',
    provider: 'openai',
    model_name: 'gpt',
    provider_key_id: pk.id,
  });
  const file = loadResourcesFile({ text: FILE, path: 'f.yaml', env: {} });
  assert.ok(file.ok);
  const r = buildPlan(file.entries, [...(await api.list('provider_keys')), ...(await api.list('models'))], {
    prune: false,
  });
  assert.ok(r.ok);
  assert.deepEqual(
    r.plan.steps.map((s) => `${s.op} ${s.kind}`),
    ['update models', 'create api_keys'],
  );

  // Someone else writes the model after the plan was made.
  await api.replace('models', chat.id, { ...chat.value, timeout: 5 });
  const lines: string[] = [];
  const outcome = await executePlan(api, r.plan, (l) => lines.push(l));
  assert.deepEqual(lines, []);
  assert.equal(outcome.applied.length, 0);
  assert.match(
    outcome.failed?.message ?? '',
    /changed after the plan was made \(revision \d+, planned \d+\); run diff again/,
  );
  assert.deepEqual(
    outcome.notApplied.map((s) => s.kind),
    ['api_keys'],
  );
  assert.equal((await api.get('models', chat.id))?.value.timeout, 5, 'the other write is kept');
  assert.deepEqual(await api.list('api_keys'), [], 'nothing after the failed step ran');

  // A fresh plan applies, with the model's reference pointing at the live provider key.
  const again = buildPlan(
    file.entries,
    [...(await api.list('provider_keys')), ...(await api.list('models'))],
    {
      prune: false,
    },
  );
  assert.ok(again.ok);
  const done = await executePlan(api, again.plan, () => {});
  assert.equal(done.failed, undefined);
  assert.equal((await api.get('models', chat.id))?.value.timeout, 1000);
  assert.equal((await api.get('models', chat.id))?.value.provider_key_id, pk.id);
});

test('a write between the re-read and the update is not overwritten: If-Match makes it a 412', async () => {
  const pk = (await api.list('provider_keys')).find((e) => e.value.display_name === 'pk');
  const chat = (await api.list('models')).find((e) => e.value.display_name === 'chat');
  assert.ok(pk && chat);
  const file = loadResourcesFile({
    text: FILE.replace('timeout: 1000', 'timeout: 2000'),
    path: 'f.yaml',
    env: {},
  });
  assert.ok(file.ok);
  const r = buildPlan(
    file.entries,
    [...(await api.list('provider_keys')), ...(await api.list('models')), ...(await api.list('api_keys'))],
    { prune: false },
  );
  assert.ok(r.ok);
  assert.deepEqual(
    r.plan.steps.map((s) => `${s.op} ${s.kind}`),
    ['update models'],
  );
  // The concurrent writer lands right after apply's check read, before its PUT.
  class RacingApi extends AdminApi {
    override async get(kind: Parameters<AdminApi['get']>[0], id: string) {
      const seen = await super.get(kind, id);
      await api.replace('models', id, { ...chat?.value, timeout: 7 });
      return seen;
    }
  }
  const outcome = await executePlan(new RacingApi(baseUrl, KEY), r.plan, () => {});
  assert.equal(outcome.applied.length, 0);
  assert.match(outcome.failed?.message ?? '', /→ 412 /);
  assert.equal((await api.get('models', chat.id))?.value.timeout, 7, 'the other write is kept');
});
