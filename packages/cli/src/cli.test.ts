/**
 * End-to-end tests of the built `aisix` binary: each test spawns
 * `node packages/cli/dist/src/main.js` as an operator would and checks exit codes, the exact
 * stderr lines, the listeners it binds and the SIGTERM drain. Ports are free ports chosen per
 * test (env overrides), the embedded store lives in a temp dir.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startEtcd, testEtcd } from '@aisix/testkit';
import { childEnv, MAIN, ROOT } from './test-support.js';

const QUICKSTART_KEY = 'change-me-admin-key';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-cli-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The environment of a child: no inherited AISIX_* or LOG_LEVEL from the test runner. */
const cleanEnv = childEnv;

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: ROOT, env: cleanEnv(env), encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, firstErr: r.stderr.split('\n')[0] ?? '' };
}

function write(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

interface Proc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: ROOT, env: cleanEnv(env) });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.text() };
}

/** Polls until `url` answers `status` (connection errors count as not yet). */
async function waitFor(url: string, status: number, p: Proc, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (p.child.exitCode !== null)
      assert.fail(`process exited ${p.child.exitCode}: ${p.stderr()}${p.stdout()}`);
    try {
      const r = await get(url);
      if (r.status === status) return;
      last = `${r.status} ${r.body}`;
    } catch (err) {
      last = String(err);
    }
    await sleep(50);
  }
  assert.fail(`${url} did not answer ${status} in ${timeoutMs} ms (last: ${last})`);
}

async function ports(): Promise<{ proxy: number; admin: number; metrics: number }> {
  return { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
}

function listenerEnv(p: { proxy: number; admin: number; metrics: number }): Record<string, string> {
  return {
    AISIX_PROXY__ADDR: `127.0.0.1:${p.proxy}`,
    AISIX_ADMIN__ADDR: `127.0.0.1:${p.admin}`,
    AISIX_OBSERVABILITY__METRICS__PROMETHEUS__ADDR: `127.0.0.1:${p.metrics}`,
  };
}

/**
 * One request on a new connection (no agent), so node:cluster spreads a series of them over the
 * workers; resolves with the status.
 */
function freshRequest(port: number, path: string, key?: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const headers = key === undefined ? {} : { authorization: `Bearer ${key}` };
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The JSON log lines of `proc` with message `msg`. */
function logLines(proc: Proc, msg: string): { pid: number; worker: number }[] {
  return proc
    .stdout()
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as { pid: number; worker: number });
}

/** `/v1/models` 200s the pod's /metrics counts (the sum over its workers). */
async function countedModelCalls(metricsPort: number): Promise<number> {
  const scrape = await get(`http://127.0.0.1:${metricsPort}/metrics`);
  assert.equal(scrape.status, 200);
  const m = /^aisix_proxy_requests_total\{endpoint="\/v1\/models",[^}]*status="200"[^}]*\} (\d+)$/m.exec(
    scrape.body,
  );
  return Number(m?.[1] ?? 0);
}

/** config.yaml for two workers over a resources file with one caller key (`APP_CALLER_KEY`). */
function twoWorkersConfig(name: string): string {
  const resources = write(
    `${name}-resources.yaml`,
    '_format_version: "1"\napi_keys: [{display_name: app, key_env: APP_CALLER_KEY, allowed_models: ["*"]}]\n',
  );
  return write(
    `${name}.yaml`,
    `proxy:\n  addr: "127.0.0.1:3000"\n  workers: 2\nadmin:\n  admin_keys: ["k"]\nresources_file: "${resources}"\n`,
  );
}

describe('aisix command line', () => {
  test('--help and --version exit 0', () => {
    const help = run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /aisix --config <path> \[--role all\|admin\|gateway\]/);
    assert.match(help.stdout, /aisix validate/);
    const version = run(['--version']);
    assert.equal(version.code, 0);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as {
      version: string;
    };
    assert.equal(version.stdout.trim(), `aisix ${pkg.version}`);
  });

  test('usage errors exit 2', () => {
    for (const args of [
      [],
      ['--role', 'all'],
      ['-c', 'config.yaml', '--role', 'proxy'],
      ['--bogus'],
      ['frobnicate'],
      ['validate'],
    ]) {
      const r = run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.firstErr, /^error: /, args.join(' '));
    }
    assert.match(run([]).firstErr, /--config <path>/);
    assert.match(run(['-c', 'config.yaml', '--role', 'proxy']).firstErr, /invalid value 'proxy' for --role/);
  });

  test('AISIX_CONFIG is the --config fallback', () => {
    const r = run(['validate'], { AISIX_CONFIG: 'config.yaml' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.split('\n')[0],
      'OK: config.yaml is a valid configuration (resource source: embedded)',
    );
    assert.ok(
      !r.stderr.includes('AISIX_CONFIG'),
      `AISIX_CONFIG must not warn as an unknown config key: ${r.stderr}`,
    );
    // The repo's config.yaml carries the quick start's placeholder admin key: said, not fatal.
    assert.equal(
      r.stderr.trim(),
      'warning: admin.admin_keys[0] is the placeholder from the quick start: anyone who read the README can administer this gateway on 127.0.0.1:3001; set your own key (e.g. `openssl rand -hex 32`)',
    );
  });

  test('a missing config file exits 1 with a clear message', () => {
    const missing = join(tmp, 'nope.yaml');
    const r = run(['--config', missing]);
    assert.equal(r.code, 1);
    assert.equal(
      r.firstErr,
      `Error: config file not found: ${missing} (pass --config <path> or set AISIX_CONFIG)`,
    );
  });

  test('a bad config exits 1 with the contract error line', () => {
    const bad = write('bad.yaml', 'proxy:\n  addr: "localhost:3000"\nadmin:\n  admin_keys: ["k"]\n');
    const r = run(['--config', bad]);
    assert.equal(r.code, 1);
    assert.equal(
      r.firstErr,
      'Error: config load failed: failed to load configuration: proxy.addr invalid socket address: localhost:3000',
    );
    const unknown = write('unknown.yaml', 'proxy:\n  addr: "127.0.0.1:3000"\n  adr: x\n');
    const u = run(['--config', unknown]);
    assert.equal(u.code, 1);
    assert.match(u.firstErr, /^Error: config load failed: failed to load configuration: deserialize: .*adr/);
    // The same check through `validate`.
    assert.equal(run(['validate', '--config', bad]).code, 1);
  });

  test('the admin listener needs an admin key', () => {
    const cfg = write(
      'nokey.yaml',
      'proxy:\n  addr: "127.0.0.1:3000"\netcd:\n  endpoints: ["http://127.0.0.1:1"]\n',
    );
    const all = run(['validate', '--config', cfg]);
    assert.equal(all.code, 1);
    assert.match(all.firstErr, /admin\.admin_keys must contain at least one key/);
    // A gateway-only config needs none: validate checks it as that role starts it.
    const gw = run(['validate', '--config', cfg, '--role', 'gateway']);
    assert.equal(gw.code, 0, gw.stderr);
    assert.equal(
      gw.stdout.split('\n')[0],
      `OK: ${cfg} is a valid configuration for --role gateway (resource source: etcd)`,
    );
    assert.equal(run(['validate', '--config', cfg, '--role', 'admin']).code, 1);
    const badRole = run(['validate', '--config', cfg, '--role', 'proxy']);
    assert.equal(badRole.code, 2);
    assert.match(badRole.firstErr, /^error: invalid value 'proxy' for --role/);
    assert.equal(run(['validate', '--role', 'gateway', '--resources', cfg]).code, 2);
  });

  test('validate --config refuses an etcd endpoint the boot would refuse', () => {
    const cfg = write('etcd-endpoint.yaml', 'proxy: {addr: "127.0.0.1:3000"}\nadmin: {enabled: false}\n');
    const env = { AISIX_ETCD__ENDPOINTS: 'etcd-0:2379' };
    const v = run(['validate', '--config', cfg], env);
    assert.equal(v.code, 1, v.stdout);
    assert.match(
      v.firstErr,
      /^Error: config load failed: failed to load configuration: etcd\.endpoints\[0\]: .*http:\/\//,
    );
    assert.equal(v.stdout, '');
    const boot = run(['--config', cfg], env);
    assert.equal(boot.code, 1);
    assert.equal(boot.firstErr, v.firstErr, 'the boot fails with the same line, before binding anything');
  });

  test('validate --resources: OK line, or the report on stderr with exit 1', () => {
    const good = write(
      'resources.yaml',
      [
        '_format_version: "1"',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: resources-file interpolation syntax
        'provider_keys: [{display_name: oa, api_key: "${UPSTREAM_KEY}", provider: openai}]',
        'models: [{display_name: chat, provider: openai, model_name: gpt-4o-mini, provider_key: oa}]',
        'api_keys: [{display_name: app, key_env: APP_CALLER_KEY, allowed_models: [chat]}]',
        '',
      ].join('\n'),
    );
    const env = { UPSTREAM_KEY: 'sk-upstream-secret', APP_CALLER_KEY: 'caller-secret' };
    const ok = run(['validate', '--resources', good], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `OK: ${good} loaded 3 resource(s)\n`);
    const missingVar = run(['validate', '--resources', good], { UPSTREAM_KEY: 'sk-upstream-secret' });
    assert.equal(missingVar.code, 1);
    assert.match(missingVar.firstErr, new RegExp(`^resources file ${good}: \\d+ error\\(s\\):$`));
    assert.match(missingVar.stderr, /APP_CALLER_KEY/);
    const bad = write('bad-resources.yaml', '_format_version: 1\n');
    const b = run(['validate', '--resources', bad]);
    assert.equal(b.code, 1);
    assert.match(b.firstErr, /^resources file .*: 1 error\(s\):$/);
    assert.ok(!b.stderr.includes('sk-upstream-secret'));
  });
});

describe('aisix serving', () => {
  test('quick start: config.yaml on the embedded store, probes, admin API, SIGTERM drain', async () => {
    const p = await ports();
    const dataDir = join(tmp, 'quickstart-data');
    const proc = start(['--config', 'config.yaml'], { ...listenerEnv(p), AISIX_DATA_DIR: dataDir });
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/livez`, 200, proc);
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, proc);
      await waitFor(`http://127.0.0.1:${p.metrics}/status/ready`, 200, proc);
      const unauth = await get(`http://127.0.0.1:${p.admin}/admin/v1/models`);
      assert.equal(unauth.status, 401);
      const models = await get(`http://127.0.0.1:${p.admin}/admin/v1/models`, {
        authorization: `Bearer ${QUICKSTART_KEY}`,
      });
      assert.equal(models.status, 200, models.body);
      assert.equal((await get(`http://127.0.0.1:${p.admin}/readyz`)).status, 200);
      // The admin playground forwards to the in-process proxy, which wants a caller key.
      const play = await fetch(`http://127.0.0.1:${p.admin}/playground/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
      });
      const playBody = (await play.json()) as { error?: { type?: string } };
      assert.equal(play.status, 401, JSON.stringify(playBody));
      assert.ok(playBody.error?.type, 'the proxy answered in the OpenAI error envelope');

      const startLine = proc
        .stdout()
        .split('\n')
        .find((l) => l.includes('aisix started'));
      assert.ok(startLine, `no startup line in: ${proc.stdout()}`);
      const info = JSON.parse(startLine) as {
        version: string;
        roles: string[];
        listeners: Record<string, string>;
        store: { type: string };
      };
      assert.deepEqual(info.roles, ['admin', 'gateway']);
      assert.equal(info.store.type, 'embedded');
      assert.equal(info.listeners.proxy, `127.0.0.1:${p.proxy}`);
      assert.equal(info.listeners.admin, `127.0.0.1:${p.admin}`);
      assert.equal(info.listeners.metrics, `127.0.0.1:${p.metrics}`);

      proc.child.kill('SIGTERM');
      // During min_drain_secs the probes answer 503 while the listeners still accept.
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 503, proc, 900);
      assert.equal((await get(`http://127.0.0.1:${p.proxy}/livez`)).status, 503);
      assert.equal(await proc.exited, 0, proc.stderr());
      assert.match(proc.stdout(), /shutdown complete/);
      assert.ok(!proc.stdout().includes(QUICKSTART_KEY), 'the admin key must never be logged');
      assert.ok(!proc.stderr().includes(QUICKSTART_KEY), 'the admin key must never be logged');
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('resources written through the admin API survive a restart (embedded data_dir)', async () => {
    const p = await ports();
    const dataDir = join(tmp, 'persist-data');
    const env = { ...listenerEnv(p), AISIX_DATA_DIR: dataDir };
    const admin = `http://127.0.0.1:${p.admin}/admin/v1/provider_keys`;
    const headers = { authorization: `Bearer ${QUICKSTART_KEY}`, 'content-type': 'application/json' };
    const first = start(['--config', 'config.yaml'], env);
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, first);
      const res = await fetch(admin, {
        method: 'POST',
        headers,
        body: JSON.stringify({ display_name: 'oa', provider: 'openai', api_key: 'sk-test-upstream-0001' }),
      });
      assert.equal(res.status, 200, await res.text());
    } finally {
      first.child.kill('SIGTERM');
      assert.equal(await first.exited, 0);
    }
    const second = start(['--config', 'config.yaml'], env);
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, second);
      const list = await get(admin, { authorization: `Bearer ${QUICKSTART_KEY}` });
      assert.equal(list.status, 200);
      assert.match(list.body, /"display_name":"oa"/);
      assert.ok(!list.body.includes('sk-test-upstream-0001'), 'secrets are masked on reads');
    } finally {
      second.child.kill('SIGTERM');
      assert.equal(await second.exited, 0);
    }
  });

  test('a proxy port in use fails the boot with exit 1 naming the address', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const addr = blocker.address();
    assert.ok(addr && typeof addr === 'object');
    try {
      const p = await ports();
      const env = {
        ...listenerEnv(p),
        AISIX_PROXY__ADDR: `127.0.0.1:${addr.port}`,
        AISIX_DATA_DIR: join(tmp, 'inuse'),
      };
      const proc = start(['--config', 'config.yaml'], env);
      const code = await proc.exited;
      assert.equal(code, 1);
      assert.match(
        proc.stderr(),
        new RegExp(`^Error: .*127\\.0\\.0\\.1:${addr.port}.*(EADDRINUSE|address already in use)`, 'm'),
      );
    } finally {
      blocker.close();
    }
  });

  test('--role gateway with etcd down: no admin key needed, listeners bind, readiness 503', async () => {
    const p = await ports();
    const deadEtcd = `http://127.0.0.1:${await freePort()}`;
    const cfg = write(
      'gateway.yaml',
      `proxy:\n  addr: "127.0.0.1:3000"\netcd:\n  endpoints: ["${deadEtcd}"]\n`,
    );
    const proc = start(['--config', cfg, '--role', 'gateway'], listenerEnv(p));
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/livez`, 200, proc);
      assert.equal((await get(`http://127.0.0.1:${p.proxy}/readyz`)).status, 503);
      assert.equal((await get(`http://127.0.0.1:${p.metrics}/status/ready`)).status, 503);
      await assert.rejects(
        get(`http://127.0.0.1:${p.admin}/livez`),
        'a gateway process binds no admin listener',
      );
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, proc.stderr());
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('a SIGHUP during the eager etcd connect does not kill the booting process', async () => {
    // An etcd endpoint that accepts connections and never answers: with credentials the boot
    // connects eagerly and keeps retrying (control-plane §1.3), up to ~25 s before it binds.
    const dialed: Socket[] = [];
    const silent = createServer((s) => {
      dialed.push(s);
      s.on('error', () => {});
    });
    const etcdPort = await freePort();
    await new Promise<void>((r) => silent.listen(etcdPort, '127.0.0.1', r));
    const p = await ports();
    const cfg = write(
      'hup-boot.yaml',
      `proxy:\n  addr: "127.0.0.1:3000"\nadmin:\n  admin_keys: ["hup-boot-admin-key"]\netcd:\n  endpoints: ["http://127.0.0.1:${etcdPort}"]\n  user: root\n  password_env: HUP_ETCD_PW\n`,
    );
    const proc = start(['--config', cfg], { ...listenerEnv(p), HUP_ETCD_PW: 'hup-pw' });
    try {
      const deadline = Date.now() + 15_000;
      while (dialed.length === 0 && proc.child.exitCode === null && Date.now() < deadline) await sleep(20);
      assert.ok(dialed.length > 0, `the boot dialed etcd: ${proc.stderr()}`);
      proc.child.kill('SIGHUP');
      await sleep(1000);
      assert.equal(proc.child.signalCode, null, 'the SIGHUP did not kill the booting process');
      assert.equal(proc.child.exitCode, null, proc.stderr());
      assert.equal(proc.stderr(), '');
    } finally {
      proc.child.kill('SIGKILL');
      await proc.exited;
      for (const s of dialed) s.destroy();
      silent.close();
    }
  });

  test('embedded store with proxy.workers > 1 fails the boot with a clear message', async () => {
    const p = await ports();
    const proc = start(['--config', 'config.yaml'], {
      ...listenerEnv(p),
      AISIX_DATA_DIR: join(tmp, 'workers'),
      AISIX_PROXY__WORKERS: '2',
    });
    assert.equal(await proc.exited, 1);
    assert.match(proc.stderr(), /^Error: proxy\.workers = 2 needs etcd or a resources_file/m);
    // `validate` says what the start says.
    const v = run(['validate', '--config', 'config.yaml'], { AISIX_PROXY__WORKERS: '2' });
    assert.equal(v.code, 1);
    assert.match(v.stderr, /^Error: proxy\.workers = 2 needs etcd or a resources_file/m);
  });

  test('resources_file: served read-only, admin writes 409, SIGHUP reload swaps or keeps', async () => {
    const p = await ports();
    const resources = write(
      'served-resources.yaml',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: resources-file interpolation syntax
      '_format_version: "1"\nprovider_keys: [{display_name: oa, api_key: "${UPSTREAM_KEY}", provider: openai}]\n',
    );
    const cfg = write(
      'file-mode.yaml',
      `proxy:\n  addr: "127.0.0.1:3000"\nadmin:\n  admin_keys: ["k"]\nresources_file: "${resources}"\n`,
    );
    const proc = start(['--config', cfg], { ...listenerEnv(p), UPSTREAM_KEY: 'sk-file-secret' });
    const auth = { authorization: 'Bearer k' };
    const list = async (): Promise<string[]> => {
      const r = await get(`http://127.0.0.1:${p.admin}/admin/v1/provider_keys`, auth);
      assert.equal(r.status, 200, r.body);
      const items = JSON.parse(r.body) as { value: { display_name: string } }[];
      return items.map((i) => i.value.display_name).sort();
    };
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, proc);
      assert.deepEqual(await list(), ['oa']);
      const write409 = await fetch(`http://127.0.0.1:${p.admin}/admin/v1/provider_keys`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ display_name: 'x', provider: 'openai', api_key: 'sk-x' }),
      });
      assert.equal(write409.status, 409);

      writeFileSync(
        resources,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: resources-file interpolation syntax
        '_format_version: "1"\nprovider_keys:\n  - {display_name: oa, api_key: "${UPSTREAM_KEY}", provider: openai}\n  - {display_name: ob, api_key: "${UPSTREAM_KEY}", provider: openai}\n',
      );
      proc.child.kill('SIGHUP');
      const deadline = Date.now() + 5000;
      while ((await list()).length < 2 && Date.now() < deadline) await sleep(50);
      assert.deepEqual(await list(), ['oa', 'ob']);

      writeFileSync(resources, '_format_version: 1\n');
      proc.child.kill('SIGHUP');
      const until = Date.now() + 5000;
      while (!proc.stdout().includes('reload rejected') && Date.now() < until) await sleep(50);
      assert.match(proc.stdout(), /resources file reload rejected/);
      assert.deepEqual(await list(), ['oa', 'ob'], 'a bad reload keeps the previous resources');
      assert.ok(!proc.stdout().includes('sk-file-secret'), 'interpolated secrets never reach the log');
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('cluster: --role admin and --role gateway on one etcd; admin writes reach the gateway', async () => {
    const etcd = await testEtcd();
    const pa = await ports();
    const pg = await ports();
    const cfg = write(
      'cluster.yaml',
      `etcd:\n  endpoints: ["${etcd.endpoint}"]\n  prefix: "${etcd.prefix}"\nproxy:\n  addr: "127.0.0.1:3000"\n`,
    );
    const admin = start(['--config', cfg, '--role', 'admin'], {
      ...listenerEnv(pa),
      AISIX_ADMIN__ADMIN_KEYS: 'cluster-key',
    });
    const gateway = start(['--config', cfg, '--role', 'gateway'], listenerEnv(pg));
    try {
      await waitFor(`http://127.0.0.1:${pa.admin}/readyz`, 200, admin);
      await waitFor(`http://127.0.0.1:${pg.proxy}/readyz`, 200, gateway);
      // The admin process binds no proxy, the gateway process no admin listener.
      await assert.rejects(get(`http://127.0.0.1:${pa.proxy}/livez`));
      await assert.rejects(get(`http://127.0.0.1:${pg.admin}/livez`));
      const res = await fetch(`http://127.0.0.1:${pa.admin}/admin/v1/provider_keys`, {
        method: 'POST',
        headers: { authorization: 'Bearer cluster-key', 'content-type': 'application/json' },
        body: JSON.stringify({ display_name: 'oa', provider: 'openai', api_key: 'sk-cluster-0001' }),
      });
      assert.equal(res.status, 200, await res.text());
      const deadline = Date.now() + 5000;
      let counts: Record<string, number> = {};
      while (Date.now() < deadline) {
        const status = JSON.parse((await get(`http://127.0.0.1:${pg.metrics}/status/config`)).body) as {
          applied?: { resource_counts?: Record<string, number> };
        };
        counts = status.applied?.resource_counts ?? {};
        if (counts.provider_keys === 1) break;
        await sleep(50);
      }
      assert.equal(counts.provider_keys, 1, 'the gateway applied the admin write from etcd');
      admin.child.kill('SIGTERM');
      gateway.child.kill('SIGTERM');
      assert.equal(await admin.exited, 0);
      assert.equal(await gateway.exited, 0);
    } finally {
      admin.child.kill('SIGKILL');
      gateway.child.kill('SIGKILL');
    }
  });

  test('proxy.workers: 2 (resources file): workers share the proxy port, primary drains them on SIGTERM', async () => {
    const p = await ports();
    const resources = write('workers-resources.yaml', '_format_version: "1"\n');
    const cfg = write(
      'workers.yaml',
      `proxy:\n  addr: "127.0.0.1:3000"\n  workers: 2\nadmin:\n  admin_keys: ["k"]\nresources_file: "${resources}"\n`,
    );
    const proc = start(['--config', cfg], listenerEnv(p));
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, proc);
      // Each worker writes its own line on its own stdout: the primary's "all started" line can
      // arrive before a worker's is flushed, so wait for the lines themselves.
      const workerLines = () =>
        proc
          .stdout()
          .split('\n')
          .filter((l) => l.includes('"gateway worker started"'));
      const until = Date.now() + 10_000;
      while (
        (!proc.stdout().includes('all gateway workers started') || workerLines().length < 2) &&
        Date.now() < until
      )
        await sleep(50);
      const workerPids = new Set(workerLines().map((l) => (JSON.parse(l) as { pid: number }).pid));
      assert.equal(workerPids.size, 2, proc.stdout());
      // Each worker names its slot, not a worker count of 1.
      const slots = workerLines().map((l) => JSON.parse(l) as { worker?: number; workers?: number });
      assert.deepEqual(slots.map((l) => l.worker).sort(), [1, 2]);
      assert.ok(slots.every((l) => l.workers === undefined));
      assert.ok(!workerPids.has(proc.child.pid ?? -1), 'the proxy runs in the workers, not the primary');
      assert.equal((await get(`http://127.0.0.1:${p.metrics}/status/ready`)).status, 200);
      assert.equal(
        (await get(`http://127.0.0.1:${p.admin}/admin/v1/models`, { authorization: 'Bearer k' })).status,
        200,
      );
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, proc.stderr());
      for (const pid of workerPids) {
        assert.throws(() => process.kill(pid, 0), 'workers exited with the primary');
      }
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('proxy.workers: 2: the primary serves /metrics with the sum of both workers', async () => {
    const p = await ports();
    const cfg = twoWorkersConfig('workers-metrics');
    const proc = start(['--config', cfg], { ...listenerEnv(p), APP_CALLER_KEY: 'sk-app' });
    const models = () => freshRequest(p.proxy, '/v1/models', 'sk-app');
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, proc);
      const until = Date.now() + 10_000;
      while (!proc.stdout().includes('all gateway workers started') && Date.now() < until) await sleep(50);
      const n = 40;
      for (let i = 0; i < n; i++) assert.equal(await models(), 200);
      const servedBy = new Set<number>();
      const logDeadline = Date.now() + 5000;
      while (Date.now() < logDeadline) {
        for (const l of proc.stdout().split('\n')) {
          if (l.includes('"path":"/v1/models"')) servedBy.add((JSON.parse(l) as { worker: number }).worker);
        }
        if (servedBy.size === 2) break;
        await sleep(50);
      }
      assert.deepEqual([...servedBy].sort(), [1, 2], 'both workers served requests');
      assert.equal(await countedModelCalls(p.metrics), n);
      const scrape = await get(`http://127.0.0.1:${p.metrics}/metrics`);
      assert.match(
        scrape.body,
        /^aisix_config_last_reload_successful 1$/m,
        'the primary adds its config series',
      );
      assert.equal((await get(`http://127.0.0.1:${p.metrics}/status/ready`)).status, 200);
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, proc.stderr());
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('proxy.workers: 2: a worker that dies keeps its counted requests in /metrics (counters never go down)', async () => {
    const p = await ports();
    const cfg = twoWorkersConfig('workers-died');
    const proc = start(['--config', cfg], { ...listenerEnv(p), APP_CALLER_KEY: 'sk-app' });
    const models = () => freshRequest(p.proxy, '/v1/models', 'sk-app');
    const counted = () => countedModelCalls(p.metrics);
    const lines = (msg: string) => logLines(proc, msg);
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, proc);
      let until = Date.now() + 10_000;
      while (lines('gateway worker started').length < 2 && Date.now() < until) await sleep(50);
      const n = 40;
      for (let i = 0; i < n; i++) assert.equal(await models(), 200);
      until = Date.now() + 5000;
      while (new Set(lines('proxy request completed').map((l) => l.worker)).size < 2 && Date.now() < until)
        await sleep(50);
      assert.equal(
        new Set(lines('proxy request completed').map((l) => l.worker)).size,
        2,
        'both workers served',
      );
      assert.equal(await counted(), n);
      const victim = lines('gateway worker started')[0];
      assert.ok(victim !== undefined);
      process.kill(victim.pid, 'SIGKILL');
      until = Date.now() + 10_000;
      while (lines('gateway worker started').length < 3 && Date.now() < until) await sleep(50);
      assert.equal(lines('gateway worker started').length, 3, 'the slot was forked again');
      assert.equal(await counted(), n, 'what the dead worker served still counts');
      for (let i = 0; i < 10; i++) assert.equal(await models(), 200);
      assert.equal(await counted(), n + 10);
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, proc.stderr());
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('proxy.workers: 2 on etcd: a worker replaced while etcd is down takes no callers before its first load', async () => {
    const etcd = await startEtcd();
    const p = await ports();
    const cfg = write(
      'workers-replaced.yaml',
      `proxy:\n  addr: "127.0.0.1:3000"\n  workers: 2\nadmin:\n  admin_keys: ["replaced-admin-key-0001"]\netcd:\n  endpoints: ["${etcd.endpoint}"]\n  prefix: "/replaced"\n`,
    );
    const proc = start(['--config', cfg], listenerEnv(p));
    const lines = (msg: string) => logLines(proc, msg);
    const call = (path: string, key?: string) => freshRequest(p.proxy, path, key);
    try {
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, proc);
      let until = Date.now() + 10_000;
      while (!proc.stdout().includes('all gateway workers started') && Date.now() < until) await sleep(50);
      const created = await fetch(`http://127.0.0.1:${p.admin}/admin/v1/api_keys`, {
        method: 'POST',
        headers: { authorization: 'Bearer replaced-admin-key-0001', 'content-type': 'application/json' },
        body: JSON.stringify({ allowed_models: ['*'] }),
      });
      const createdBody = await created.text();
      assert.equal(created.status, 200, createdBody);
      const { plaintext } = JSON.parse(createdBody) as { plaintext: string };
      until = Date.now() + 10_000;
      const statuses = async (n: number, path: string, key?: string) => {
        const got: number[] = [];
        for (let i = 0; i < n; i++) got.push(await call(path, key));
        return got;
      };
      while ((await statuses(6, '/v1/models', plaintext)).some((s) => s !== 200) && Date.now() < until)
        await sleep(50);
      assert.deepEqual(await statuses(6, '/v1/models', plaintext), [200, 200, 200, 200, 200, 200]);

      await etcd.kill('SIGKILL');
      const victim = lines('gateway worker started')[0];
      assert.ok(victim !== undefined);
      process.kill(victim.pid, 'SIGKILL');
      // The replacement is forked after 1 s; give it the time to boot (and, unfixed, to listen).
      until = Date.now() + 15_000;
      while (
        lines('gateway worker started').length < 3 &&
        !proc.stdout().includes('replacement worker waits for its first configuration') &&
        Date.now() < until
      )
        await sleep(50);
      await sleep(300);
      // The pod serves with the configuration its live worker holds: no caller is refused,
      // no readiness probe flaps.
      const during = await statuses(12, '/v1/models', plaintext);
      assert.deepEqual(during, Array(12).fill(200), `while etcd is down: ${during}`);
      const probes = await statuses(8, '/readyz');
      assert.deepEqual(probes, Array(8).fill(200), `readiness while etcd is down: ${probes}`);

      // etcd back: the replacement loads, starts listening and serves.
      await etcd.restart();
      until = Date.now() + 20_000;
      while (lines('gateway worker started').length < 3 && Date.now() < until) await sleep(50);
      const replacement = lines('gateway worker started')[2];
      assert.ok(replacement !== undefined, proc.stdout());
      const served = () => lines('proxy request completed').some((l) => l.pid === replacement.pid);
      until = Date.now() + 10_000;
      while (!served() && Date.now() < until) {
        assert.equal(await call('/v1/models', plaintext), 200);
        await sleep(20);
      }
      assert.ok(served(), 'the replacement serves once loaded');
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, proc.stderr());
    } finally {
      proc.child.kill('SIGKILL');
      await etcd.stop();
    }
  });

  test('proxy.workers: 2 with the proxy port in use fails the boot with exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const addr = blocker.address();
    assert.ok(addr && typeof addr === 'object');
    try {
      const p = await ports();
      const resources = write('workers-inuse.yaml', '_format_version: "1"\n');
      const cfg = write(
        'workers-inuse-config.yaml',
        `proxy:\n  addr: "127.0.0.1:3000"\n  workers: 2\nadmin:\n  admin_keys: ["k"]\nresources_file: "${resources}"\n`,
      );
      const proc = start(['--config', cfg], {
        ...listenerEnv(p),
        AISIX_PROXY__ADDR: `127.0.0.1:${addr.port}`,
      });
      assert.equal(await proc.exited, 1);
      assert.match(proc.stderr(), new RegExp(`127\\.0\\.0\\.1:${addr.port}`));
    } finally {
      blocker.close();
    }
  });

  test('proxy.workers: 2: a worker killed while booting fails the boot with one line and exit 1', async () => {
    const p = await ports();
    const resources = write('workers-killed.yaml', '_format_version: "1"\n');
    const cfg = write(
      'workers-killed-config.yaml',
      `proxy:\n  addr: "127.0.0.1:3000"\n  workers: 2\nadmin:\n  admin_keys: ["k"]\nresources_file: "${resources}"\n`,
    );
    const proc = start(['--config', cfg], listenerEnv(p));
    try {
      const pid = proc.child.pid ?? -1;
      // The primary's children (the forked workers): the processes whose parent it is.
      const children = (): number[] =>
        readdirSync('/proc')
          .filter((d) => /^\d+$/.test(d))
          .filter((d) => {
            try {
              // pid (comm) state ppid ...: comm may hold spaces, so read after its last ')'.
              const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
              return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
            } catch {
              return false;
            }
          })
          .map(Number);
      const deadline = Date.now() + 15_000;
      while (children().length === 0 && proc.child.exitCode === null && Date.now() < deadline) await sleep(5);
      const [worker] = children();
      assert.ok(worker !== undefined, `a worker was forked: ${proc.stderr()}`);
      assert.ok(!proc.stdout().includes('all gateway workers started'), 'killed before the boot completed');
      process.kill(worker, 'SIGKILL');
      assert.equal(await proc.exited, 1);
      const lines = proc.stderr().split('\n').filter(Boolean);
      assert.equal(lines.length, 1, proc.stderr());
      assert.match(lines[0] ?? '', /^Error: gateway worker [12] was killed by SIGKILL while starting$/);
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  test('proxy.workers: 2: a SIGHUP while the workers boot reaches each once it is ready, killing none', async () => {
    const p = await ports();
    const resources = write('workers-hup.yaml', '_format_version: "1"\n');
    const cfg = write(
      'workers-hup-config.yaml',
      `proxy:\n  addr: "127.0.0.1:3000"\n  workers: 2\nadmin:\n  admin_keys: ["k"]\nresources_file: "${resources}"\n`,
    );
    const proc = start(['--config', cfg], listenerEnv(p));
    try {
      // The primary logs `aisix started` before it forks; from then on, SIGHUP it until the
      // workers are up (a reload of an unchanged file, as a config tool would send).
      const deadline = Date.now() + 15_000;
      while (!proc.stdout().includes('"aisix started"') && Date.now() < deadline) await sleep(10);
      let sent = 0;
      while (
        !proc.stdout().includes('all gateway workers started') &&
        proc.child.exitCode === null &&
        Date.now() < deadline
      ) {
        proc.child.kill('SIGHUP');
        sent++;
        await sleep(25);
      }
      assert.ok(sent > 0, 'a SIGHUP was sent while the workers booted');
      assert.equal(proc.child.exitCode, null, `the gateway survived: ${proc.stderr()}${proc.stdout()}`);
      await waitFor(`http://127.0.0.1:${p.proxy}/readyz`, 200, proc);
      // Each worker got the reload it missed while booting, once its handler was installed.
      const reloaded = () =>
        new Set(
          proc
            .stdout()
            .split('\n')
            .filter((l) => l.includes('"resources file reloaded"') && l.includes('"worker"'))
            .map((l) => (JSON.parse(l) as { worker: number }).worker),
        );
      const until = Date.now() + 5000;
      while (reloaded().size < 2 && Date.now() < until) await sleep(50);
      assert.deepEqual([...reloaded()].sort(), [1, 2], proc.stdout());
      assert.doesNotMatch(proc.stdout(), /gateway worker exited/);
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, proc.stderr());
    } finally {
      proc.child.kill('SIGKILL');
    }
  });
});
