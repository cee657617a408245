/**
 * Operational endpoints and the listener: probes, health, model status, playground
 * forwarding, and a clear error when the port is taken.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createAdminApp } from './app.js';
import type { Readiness } from './ops.js';
import { startAdminServer } from './server.js';
import {
  arr,
  createProviderKey,
  embeddedStoreFactory,
  obj,
  type StoreHandle,
  startTestAdmin,
  type TestAdmin,
} from './testing/harness.js';

let h: StoreHandle;
before(async () => {
  h = await embeddedStoreFactory();
});
after(async () => {
  await h?.close();
});

describe('probes', () => {
  const state: Readiness = { shuttingDown: false, configApplied: false };
  let admin: TestAdmin;
  before(async () => {
    admin = await startTestAdmin({ store: h.store, readiness: () => state });
  });
  after(() => admin?.close());

  it('livez and readyz follow readiness, plain text, verbose lists checks', async () => {
    const live = await admin.call('GET', '/livez', { key: null });
    assert.equal(live.status, 200);
    assert.equal(live.text, 'ok');
    assert.equal(live.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(live.headers.get('x-content-type-options'), 'nosniff');
    const notReady = await admin.call('GET', '/readyz', { key: null });
    assert.equal(notReady.status, 503);
    assert.equal(notReady.text, '[+]shutdown ok\n[-]config failed: not ready\nreadyz check failed');
    state.configApplied = true;
    assert.equal((await admin.call('GET', '/readyz', { key: null })).text, 'ok');
    assert.equal(
      (await admin.call('GET', '/readyz?verbose', { key: null })).text,
      '[+]shutdown ok\n[+]config ok\nreadyz check passed',
    );
    assert.equal(
      (await admin.call('GET', '/livez?verbose', { key: null })).text,
      '[+]ping ok\n[+]shutdown ok\nlivez check passed',
    );
    state.shuttingDown = true;
    const dying = await admin.call('GET', '/livez', { key: null });
    assert.equal(dying.status, 503);
    assert.equal(dying.text, '[+]ping ok\n[-]shutdown failed: reason withheld\nlivez check failed');
    const draining = await admin.call('GET', '/readyz', { key: null });
    assert.equal(draining.status, 503);
    assert.match(draining.text, /\[-\]shutdown failed: draining/);
  });
});

describe('health and model status', () => {
  let admin: TestAdmin;
  let age: number | null = 5;
  let failStatus = false;
  before(async () => {
    admin = await startTestAdmin({
      store: h.store,
      health: () => ({ snapshot_revision: 42, snapshot_age_seconds: age }),
      modelHealth: (name) => (name === 'sick' ? 2 : 0),
      modelStatus: () => {
        if (failStatus) throw new Error('backend detail that must not leak');
        return [{ id: 'x', display_name: 'chat', kind: 'direct', status: 'cooldown' }];
      },
    });
  });
  after(() => admin?.close());

  it('health lists stored models and derives status', async () => {
    const empty = obj((await admin.call('GET', '/admin/v1/health')).json);
    assert.deepEqual(empty, {
      status: 'ok',
      models: [],
      config: { snapshot_revision: 42, snapshot_age_seconds: 5 },
    });
    age = null;
    assert.equal(obj((await admin.call('GET', '/admin/v1/health')).json).status, 'degraded');
    age = 1;
    const pk = await createProviderKey(admin);
    const m = await admin.call('POST', '/admin/v1/models', {
      body: { display_name: 'sick', provider: 'openai', model_name: 'x', provider_key_id: pk },
    });
    assert.equal(m.status, 200, m.text);
    const body = obj((await admin.call('GET', '/admin/v1/health')).json);
    assert.equal(body.status, 'unhealthy');
    assert.deepEqual(body.models, [{ id: obj(m.json).id, name: 'sick', health: 2 }]);
    assert.equal((await admin.call('GET', '/admin/v1/health', { key: null })).status, 401);
  });

  it('model status comes from the hook; failures are 500 without detail', async () => {
    const r = await admin.call('GET', '/admin/v1/models/status');
    assert.equal(r.status, 200);
    assert.equal(obj(arr(r.json)[0]).status, 'cooldown');
    failStatus = true;
    const bad = await admin.call('GET', '/admin/v1/models/status');
    assert.equal(bad.status, 500);
    assert.deepEqual(bad.json, { error_msg: 'failed to list models' });
  });
});

describe('model status without a hook, playground', () => {
  it('falls back to stored models; playground is 501 when absent and forwards when wired', async () => {
    const bare = await startTestAdmin({ store: h.store });
    try {
      const s = arr((await bare.call('GET', '/admin/v1/models/status')).json);
      assert.ok(s.length >= 1);
      assert.deepEqual(Object.keys(obj(s[0])).sort(), ['display_name', 'id', 'kind', 'status']);
      const p = await bare.call('POST', '/playground/chat/completions', {
        key: null,
        body: { model: 'chat', messages: [] },
      });
      assert.equal(p.status, 501);
      assert.deepEqual(p.json, { error_msg: 'playground not wired: proxy router not configured' });
    } finally {
      await bare.close();
    }
    const seen: string[] = [];
    const wired = await startTestAdmin({
      store: h.store,
      playground: async (req) => {
        seen.push(`${req.headers.get('authorization')} ${await req.text()}`);
        return new Response('{"id":"chatcmpl-1"}', {
          status: 201,
          headers: { 'content-type': 'application/json' },
        });
      },
    });
    try {
      const p = await wired.call('POST', '/playground/chat/completions', {
        key: null,
        headers: { authorization: 'Bearer sk-caller' },
        body: { model: 'chat' },
      });
      assert.equal(p.status, 201);
      assert.deepEqual(p.json, { id: 'chatcmpl-1' });
      assert.deepEqual(seen, ['Bearer sk-caller {"model":"chat"}']);
    } finally {
      await wired.close();
    }
  });
});

describe('listener', () => {
  it('a taken port fails with the address in the message', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const app = createAdminApp({
        store: h.store,
        adminKeys: ['k'],
        mode: { type: 'embedded' },
        logger: pino({ enabled: false }),
      });
      await assert.rejects(startAdminServer(app, { host: '127.0.0.1', port }), (err: Error) => {
        assert.equal(err.message, `admin listener cannot bind 127.0.0.1:${port}: address already in use`);
        return true;
      });
    } finally {
      blocker.close();
    }
  });

  it('refuses to build without an admin key', () => {
    assert.throws(
      () =>
        createAdminApp({
          store: h.store,
          adminKeys: [],
          mode: { type: 'embedded' },
          logger: pino({ enabled: false }),
        }),
      /adminKeys/,
    );
  });
});
