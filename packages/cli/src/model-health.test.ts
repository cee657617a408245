// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${VAR}` here is resources-file text.
/**
 * End to end: the built `aisix` binary with `--role all` (admin and proxy in one process) hands
 * the proxy's model health to the admin API (control-plane §4.6, §6.2): a failing upstream (real
 * node:http server answering 500) drives `GET /admin/v1/health` to 1 after 4 and 2 after 8
 * consecutive failures and a success resets it; `GET /admin/v1/models/status` and the status
 * listener's `/status/models` show the same cooldown, then `healthy`. An admin-only process has
 * no traffic and reports 0 / the stored models.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { chatCompletionBody, childEnv, MAIN, ROOT } from './test-support.js';

const APP_KEY = 'sk-app-health-0001';
const ADMIN = { authorization: 'Bearer k' };

const tmp = mkdtempSync(join(tmpdir(), 'aisix-model-health-'));
let upstream: Server;
let upstreamPort = 0;
let failing = false;
let upstreamCalls = 0;

before(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      upstreamCalls++;
      if (failing) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'boom' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(chatCompletionBody('up', 'ok'));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});

after(async () => {
  await new Promise((r) => upstream.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

interface Ports {
  proxy: number;
  admin: number;
  metrics: number;
}

function startAisix(role: 'all' | 'admin', name: string) {
  return (async () => {
    const ports: Ports = { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
    const resources = join(tmp, `${name}-resources.yaml`);
    writeFileSync(
      resources,
      [
        '_format_version: "1"',
        'provider_keys:',
        `  - {display_name: oa, provider: openai, api_key: up-key, api_base: "http://127.0.0.1:${upstreamPort}/v1"}`,
        'models:',
        '  - {display_name: chat, provider: openai, model_name: up, provider_key: oa, retries: 0}',
        '  - {display_name: other, provider: openai, model_name: up2, provider_key: oa}',
        '  - {display_name: grp, routing: {targets: [{model: chat}, {model: other}]}}',
        'api_keys:',
        '  - {display_name: app, key_env: APP_KEY, allowed_models: [chat, other, grp]}',
        '',
      ].join('\n'),
    );
    const cfg = join(tmp, `${name}-config.yaml`);
    writeFileSync(
      cfg,
      `proxy:\n  addr: "127.0.0.1:${ports.proxy}"\nadmin:\n  admin_keys: ["k"]\n  addr: "127.0.0.1:${ports.admin}"\n` +
        `observability:\n  metrics:\n    prometheus:\n      addr: "127.0.0.1:${ports.metrics}"\nresources_file: "${resources}"\n`,
    );
    const env = childEnv();
    const child: ChildProcess = spawn(process.execPath, [MAIN, '--config', cfg, '--role', role], {
      cwd: ROOT,
      env: { ...env, APP_KEY },
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const readyUrl = `http://127.0.0.1:${ports.admin}/readyz`;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
      try {
        if ((await fetch(readyUrl)).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) assert.fail(`aisix not ready; output:\n${out}`);
      await sleep(50);
    }
    const stop = async () => {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, out);
    };
    return { ports, stop };
  })();
}

interface HealthBody {
  status: string;
  models: { id: string; name: string; health: number }[];
}
interface StatusRow {
  display_name: string;
  kind: string;
  status: string;
  cooldown_until?: string;
  status_reason?: string;
}

async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
  const r = await fetch(url, { headers });
  assert.equal(r.status, 200, url);
  return (await r.json()) as T;
}

test('--role all: admin health follows consecutive upstream failures (4 → 1, 8 → 2, success → 0); model status shows cooldown then healthy', async () => {
  const { ports, stop } = await startAisix('all', 'all');
  const adminBase = `http://127.0.0.1:${ports.admin}/admin/v1`;
  const chat = async (model: string): Promise<number> => {
    const r = await fetch(`http://127.0.0.1:${ports.proxy}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${APP_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await r.arrayBuffer();
    return r.status;
  };
  const health = async () => {
    const h = await getJson<HealthBody>(`${adminBase}/health`, ADMIN);
    const chatRow = h.models.find((m) => m.name === 'chat');
    assert.ok(chatRow);
    return { status: h.status, chat: chatRow.health, others: h.models.filter((m) => m.name !== 'chat') };
  };
  const rowOf = (rows: StatusRow[], name: string) => {
    const row = rows.find((r) => r.display_name === name);
    assert.ok(row, name);
    return row;
  };
  try {
    assert.deepEqual((await health()).status, 'ok');
    failing = true;
    const seen: [string, number][] = [];
    for (let i = 1; i <= 8; i++) {
      const before = upstreamCalls;
      assert.equal(await chat('chat'), 502);
      // One attempt per request (retries: 0); in cooldown from the first failure and still
      // served: a direct model is never blocked by cooldown.
      assert.equal(upstreamCalls, before + 1);
      const h = await health();
      seen.push([h.status, h.chat]);
      for (const o of h.others) assert.equal(o.health, 0);
    }
    assert.deepEqual(seen, [
      ['ok', 0],
      ['ok', 0],
      ['ok', 0],
      ['degraded', 1],
      ['degraded', 1],
      ['degraded', 1],
      ['degraded', 1],
      ['unhealthy', 2],
    ]);

    // Cooldown in both status views (same body), with the reason and an RFC 3339 deadline.
    const adminRows = await getJson<StatusRow[]>(`${adminBase}/models/status`, ADMIN);
    const proxyRows = await getJson<StatusRow[]>(`http://127.0.0.1:${ports.metrics}/status/models`);
    assert.deepEqual(adminRows, proxyRows);
    const cooling = rowOf(adminRows, 'chat');
    assert.equal(cooling.status, 'cooldown');
    assert.equal(cooling.status_reason, 'upstream_server_error');
    const until = Date.parse(cooling.cooldown_until ?? '');
    assert.ok(until > Date.now() + 20_000 && until <= Date.now() + 30_000, cooling.cooldown_until);
    assert.equal(rowOf(adminRows, 'other').status, 'healthy');
    const grp = rowOf(adminRows, 'grp');
    assert.deepEqual([grp.kind, grp.status, grp.cooldown_until], ['routing', 'not_applicable', undefined]);

    failing = false;
    assert.equal(await chat('chat'), 200);
    const after = await health();
    assert.deepEqual([after.status, after.chat], ['ok', 0]);
    const healed = rowOf(await getJson<StatusRow[]>(`${adminBase}/models/status`, ADMIN), 'chat');
    assert.equal(healed.status, 'healthy');
    assert.equal(healed.cooldown_until, undefined);
    assert.equal(
      rowOf(await getJson<StatusRow[]>(`http://127.0.0.1:${ports.metrics}/status/models`), 'chat').status,
      'healthy',
    );
  } finally {
    failing = false;
    await stop();
  }
});

test('--role admin: no proxy in the process, every model health 0 and the stored models as status', async () => {
  const { ports, stop } = await startAisix('admin', 'admin');
  const adminBase = `http://127.0.0.1:${ports.admin}/admin/v1`;
  try {
    const h = await getJson<HealthBody>(`${adminBase}/health`, ADMIN);
    assert.equal(h.status, 'ok');
    assert.deepEqual(h.models.map((m) => [m.name, m.health]).sort(), [
      ['chat', 0],
      ['grp', 0],
      ['other', 0],
    ]);
    const rows = await getJson<StatusRow[]>(`${adminBase}/models/status`, ADMIN);
    assert.deepEqual(rows.map((r) => [r.display_name, r.status]).sort(), [
      ['chat', 'healthy'],
      ['grp', 'not_applicable'],
      ['other', 'healthy'],
    ]);
  } finally {
    await stop();
  }
});
