/**
 * `upstream.tls` through the built `aisix` binary: with `ca_file` naming the self-signed CA of a
 * local HTTPS upstream, a chat call reaches it (no per-key `tls` needed); an unusable `ca_file`
 * fails the boot with exit 1 naming the key, and no inert-key warning mentions `upstream.tls`.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, selfSignedCert, type TestCert } from '@aisix/testkit';
import { chatCompletionBody, childEnv, MAIN, ROOT } from './test-support.js';

const APP_KEY = 'sk-app-upstream-tls-1';
const tmp = mkdtempSync(join(tmpdir(), 'aisix-upstream-tls-'));
let cert: TestCert;
let upstream: Server;

before(async () => {
  cert = selfSignedCert(tmp);
  upstream = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(chatCompletionBody('up', 'over-tls'));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
});

after(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

function writeConfig(name: string, caFile: string, ports: Record<string, number>): string {
  const resources = join(tmp, `${name}-resources.yaml`);
  const port = (upstream.address() as AddressInfo).port;
  writeFileSync(
    resources,
    [
      '_format_version: "1"',
      'provider_keys:',
      `  - {display_name: up, provider: openai, api_key: up-key, api_base: "https://127.0.0.1:${port}/v1"}`,
      'models:',
      '  - {display_name: chat, provider: openai, model_name: up, provider_key: up, retries: 0}',
      'api_keys:',
      '  - {display_name: app, key_env: APP_KEY, allowed_models: [chat]}',
      '',
    ].join('\n'),
  );
  const cfg = join(tmp, `${name}-config.json`);
  writeFileSync(
    cfg,
    JSON.stringify({
      proxy: { addr: `127.0.0.1:${ports.proxy}` },
      admin: { admin_keys: ['k'], addr: `127.0.0.1:${ports.admin}` },
      observability: { metrics: { prometheus: { addr: `127.0.0.1:${ports.metrics}` } } },
      upstream: { tls: { ca_file: caFile } },
      resources_file: resources,
    }),
  );
  return cfg;
}

const freePorts = async () => ({
  proxy: await freePort(),
  admin: await freePort(),
  metrics: await freePort(),
});

test('upstream.tls.ca_file: the HTTPS upstream signed by that CA is reached', async () => {
  const ports = await freePorts();
  const child: ChildProcess = spawn(
    process.execPath,
    [MAIN, '--config', writeConfig('ok', cert.certFile, ports)],
    {
      cwd: ROOT,
      env: childEnv({ APP_KEY }),
    },
  );
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
      const r = await fetch(`http://127.0.0.1:${ports.proxy}/readyz`).catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > deadline) assert.fail(`aisix not ready; output:\n${out}`);
      await sleep(50);
    }
    const chat = await fetch(`http://127.0.0.1:${ports.proxy}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${APP_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = await chat.text();
    assert.equal(chat.status, 200, body);
    assert.match(body, /over-tls/);
    assert.ok(!out.includes('upstream.tls'), 'no inert-key warning names upstream.tls');
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  }
});

test('upstream.tls.ca_file that is missing or holds no certificate: exit 1 naming the key', async () => {
  const junk = join(tmp, 'junk.pem');
  writeFileSync(junk, 'SECRET-LOOKING-CONTENT\n');
  for (const [file, want] of [
    [join(tmp, 'nope.pem'), /Error: upstream\.tls: failed to load ca_file \(.*nope\.pem\): ENOENT/],
    [junk, /Error: upstream\.tls: failed to load ca_file \(.*junk\.pem\): no PEM certificate/],
  ] as const) {
    const r = spawnSync(process.execPath, [MAIN, '--config', writeConfig('bad', file, await freePorts())], {
      cwd: ROOT,
      env: childEnv({ APP_KEY }),
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, want);
    assert.ok(!(r.stdout + r.stderr).includes('SECRET-LOOKING'), 'file contents are never printed');
  }
});
