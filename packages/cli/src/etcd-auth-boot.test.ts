/**
 * control-plane §1.3: with `etcd.user` + `password_env` the boot authenticates eagerly, retries
 * the connect 5 times 5 s apart (shortened here), then fails with `etcd connect failed: …`.
 * Against a real etcd with auth enabled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '@aisix/core';
import { startEtcd } from '@aisix/testkit';
import { BootError, openResources } from './resources.js';

async function etcdCall(endpoint: string, path: string, body: unknown): Promise<void> {
  const r = await fetch(`${endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(r.status, 200, `${path}: ${await r.text()}`);
}

function config(endpoint: string, env: Record<string, string>) {
  const text = `proxy: {addr: "127.0.0.1:0"}\nadmin: {enabled: false}\netcd: {endpoints: ["${endpoint}"], user: root, password_env: ETCD_PW}\n`;
  const r = parseConfig({ text, path: 'config.yaml', env });
  if (!r.ok) assert.fail(r.error);
  return r.config;
}

test('etcd credentials are checked at boot: a wrong password fails after the retries, a right one opens', async () => {
  const etcd = await startEtcd();
  try {
    const ep = etcd.endpoint;
    const password = 'Boot-pw-4711';
    await etcdCall(ep, '/v3/auth/user/add', { name: 'root', password });
    await etcdCall(ep, '/v3/auth/role/add', { name: 'root' });
    await etcdCall(ep, '/v3/auth/user/grant', { user: 'root', role: 'root' });
    await etcdCall(ep, '/v3/auth/enable', {});

    const retry = { attempts: 3, delayMs: 100 };
    const wrongEnv = { ETCD_PW: 'not-the-password' };
    const started = Date.now();
    const err = await openResources(config(ep, wrongEnv), 'etcd', wrongEnv, retry).then(
      () => assert.fail('expected the boot to fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BootError);
    assert.match(err.message, /^Error: etcd connect failed: etcd authentication failed for user "root"/);
    assert.ok(!err.message.includes('not-the-password'), err.message);
    // Three tries, two pauses between them.
    assert.ok(Date.now() - started >= 2 * retry.delayMs);

    const rightEnv = { ETCD_PW: password };
    const opened = await openResources(config(ep, rightEnv), 'etcd', rightEnv, retry);
    try {
      assert.equal(opened.kind, 'etcd');
      await opened.source.load();
    } finally {
      await opened.close();
    }
  } finally {
    await etcd.stop();
  }
});

test('etcd credentials and an unreachable cluster: the boot fails instead of coming up empty', async () => {
  const env = { ETCD_PW: 'whatever-pw' };
  // A port nothing listens on (the dial fails at once).
  const err = await openResources(config('http://127.0.0.1:1', env), 'etcd', env, {
    attempts: 2,
    delayMs: 10,
  }).then(
    () => assert.fail('expected the boot to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BootError);
  assert.match(err.message, /^Error: etcd connect failed: /);
  assert.ok(!err.message.includes('whatever-pw'), err.message);
});
