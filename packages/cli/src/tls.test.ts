/**
 * `proxy.tls` and `admin.tls` through the built `aisix` binary: both listeners serve HTTPS with
 * the configured PEM files (a self-signed certificate made by openssl for the test; clients trust
 * it as their CA), a chat call goes through the HTTPS proxy to a real upstream, the admin
 * playground reaches the HTTPS proxy, and unusable files fail the boot with exit 1 naming the key.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, selfSignedCert, type TestCert } from '@aisix/testkit';
import { chatCompletionBody, childEnv, MAIN, ROOT } from './test-support.js';

const APP_KEY = 'sk-app-tls-0001';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-tls-'));
let cert: TestCert;
let upstream: Server;
let upstreamPort = 0;

before(async () => {
  cert = selfSignedCert(tmp);
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(chatCompletionBody('up', 'secure'));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});

after(async () => {
  await new Promise((r) => upstream.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

function cleanEnv(): NodeJS.ProcessEnv {
  return childEnv({ APP_KEY });
}

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTPS request trusting only the test certificate. */
function https(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; ca?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers ?? {},
      ca: opts.ca ?? cert.cert,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.end(opts.body);
  });
}

function writeConfig(name: string, tls: { proxy?: object; admin?: object }, ports: Record<string, number>) {
  const resources = join(tmp, `${name}-resources.yaml`);
  writeFileSync(
    resources,
    [
      '_format_version: "1"',
      'provider_keys:',
      `  - {display_name: oa, provider: openai, api_key: up-key, api_base: "http://127.0.0.1:${upstreamPort}/v1"}`,
      'models:',
      '  - {display_name: chat, provider: openai, model_name: up, provider_key: oa, retries: 0}',
      'api_keys:',
      '  - {display_name: app, key_env: APP_KEY, allowed_models: [chat]}',
      '',
    ].join('\n'),
  );
  const cfg = join(tmp, `${name}-config.json`);
  writeFileSync(
    cfg,
    JSON.stringify({
      proxy: { addr: `127.0.0.1:${ports.proxy}`, ...(tls.proxy ? { tls: tls.proxy } : {}) },
      admin: {
        admin_keys: ['k'],
        addr: `127.0.0.1:${ports.admin}`,
        ...(tls.admin ? { tls: tls.admin } : {}),
      },
      observability: { metrics: { prometheus: { addr: `127.0.0.1:${ports.metrics}` } } },
      resources_file: resources,
    }),
  );
  return cfg;
}

test('proxy.tls + admin.tls: both listeners serve HTTPS; chat and playground go through', async () => {
  const ports = { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
  const pair = { cert_file: cert.certFile, key_file: cert.keyFile };
  const cfg = writeConfig('ok', { proxy: pair, admin: pair }, ports);
  const child: ChildProcess = spawn(process.execPath, [MAIN, '--config', cfg], {
    cwd: ROOT,
    env: cleanEnv(),
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
      const r = await https(`https://127.0.0.1:${ports.proxy}/readyz`).catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > deadline) assert.fail(`aisix not ready over https; output:\n${out}`);
      await sleep(50);
    }
    const live = await https(`https://127.0.0.1:${ports.proxy}/livez`);
    assert.equal(live.status, 200);
    assert.equal(live.body, 'ok');
    const adminLive = await https(`https://127.0.0.1:${ports.admin}/livez`);
    assert.equal(adminLive.status, 200);
    const models = await https(`https://127.0.0.1:${ports.admin}/admin/v1/models`, {
      headers: { authorization: 'Bearer k' },
    });
    assert.equal(models.status, 200, models.body);
    // plain HTTP is not served on either listener
    await assert.rejects(fetch(`http://127.0.0.1:${ports.proxy}/livez`));
    await assert.rejects(fetch(`http://127.0.0.1:${ports.admin}/livez`));
    // a client that does not trust the certificate is refused
    await assert.rejects(fetch(`https://127.0.0.1:${ports.proxy}/livez`));
    const chatBody = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
    const chat = await https(`https://127.0.0.1:${ports.proxy}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${APP_KEY}`, 'content-type': 'application/json' },
      body: chatBody,
    });
    assert.equal(chat.status, 200, chat.body);
    assert.equal(
      (JSON.parse(chat.body) as { choices: { message: { content: string } }[] }).choices[0]?.message.content,
      'secure',
    );
    const play = await https(`https://127.0.0.1:${ports.admin}/playground/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${APP_KEY}`, 'content-type': 'application/json' },
      body: chatBody,
    });
    assert.equal(play.status, 200, play.body);
    assert.match(play.body, /"secure"/);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  }
});

test('proxy.tls / admin.tls: an unusable file fails the boot with exit 1 naming the key', async () => {
  const ports = { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
  const missing = join(tmp, 'nope.pem');
  const notPem = join(tmp, 'not-a-key.pem');
  writeFileSync(notPem, 'SECRET-LOOKING-CONTENT\n');
  const cases: [string, { proxy?: object; admin?: object }, RegExp][] = [
    [
      'proxy-missing',
      { proxy: { cert_file: missing, key_file: cert.keyFile } },
      /^Error: proxy\.tls: failed to load cert_file \(.*nope\.pem\): ENOENT$/,
    ],
    [
      'admin-missing',
      { admin: { cert_file: cert.certFile, key_file: missing } },
      /^Error: admin\.tls: failed to load key_file \(.*nope\.pem\): ENOENT$/,
    ],
    [
      'proxy-bad-key',
      { proxy: { cert_file: cert.certFile, key_file: notPem } },
      /^Error: proxy\.tls: failed to load /,
    ],
  ];
  for (const [name, tls, want] of cases) {
    const cfg = writeConfig(name, tls, ports);
    const r = spawnSync(process.execPath, [MAIN, '--config', cfg], {
      cwd: ROOT,
      env: cleanEnv(),
      encoding: 'utf8',
    });
    assert.equal(r.status, 1, `${name}: ${r.stderr}${r.stdout}`);
    const first = r.stderr.split('\n')[0] ?? '';
    assert.match(first, want, name);
    assert.doesNotMatch(r.stderr + r.stdout, /SECRET-LOOKING-CONTENT|BEGIN/, name);
  }
});
