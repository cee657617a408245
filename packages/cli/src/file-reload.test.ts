// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${VAR}` here is resources-file text.
/**
 * End to end: the built `aisix` binary in resources_file mode, SIGHUP reloads and what
 * `/status/config` and the metrics report about them (control-plane §5.4, §6.1, §6.2). A real
 * upstream (node:http on 127.0.0.1) answers the proxied chat calls, so "the previous resources
 * keep serving" is checked through the proxy and the admin reads, not only in the status body.
 * Also: the embedded store names itself `embedded` in `/status/config`, with etcd's fields.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { chatCompletionBody, childEnv, MAIN, ROOT } from './test-support.js';

const APP_KEY = 'sk-app-caller-0001';
const UPSTREAM_KEY = 'sk-upstream-file-secret';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-file-reload-'));
let upstream: Server;
let upstreamPort = 0;
/** Upstream model names the mock upstream was asked for, in order. */
const asked: string[] = [];

before(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      const model = (JSON.parse(body || '{}') as { model?: string }).model ?? '';
      asked.push(model);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(chatCompletionBody(model, `hi from ${model}`));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});

after(async () => {
  await new Promise((r) => upstream.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function resourcesText(models: string[]): string {
  return [
    '_format_version: "1"',
    'provider_keys:',
    `  - {display_name: oa, provider: openai, api_key: "\${UPSTREAM_KEY}", api_base: "http://127.0.0.1:${upstreamPort}/v1"}`,
    'models:',
    ...models.map((m) => `  - {display_name: ${m}, provider: openai, model_name: up-${m}, provider_key: oa}`),
    'api_keys:',
    `  - {display_name: app, key_env: APP_KEY, allowed_models: [${models.join(', ')}]}`,
    '',
  ].join('\n');
}

interface StatusBody {
  state: string;
  source: Record<string, unknown>;
  applied?: Record<string, unknown> & { resource_counts: Record<string, number> };
  last_reload?: { successful: boolean; at: string };
  last_failure: { at: string; last_error_kind: string; last_error: string } | null;
  rejected: {
    resource_kind: string;
    resource_id: string;
    last_error_kind: string;
    last_error: string;
    first_seen_at: string;
    last_seen_at: string;
  }[];
}

test('resources_file: SIGHUP rejections show in /status/config and metrics; old resources keep serving; a fix returns to synced', async () => {
  const ports = { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
  const resources = join(tmp, 'resources.yaml');
  writeFileSync(resources, resourcesText(['chat']));
  const cfg = join(tmp, 'config.yaml');
  writeFileSync(
    cfg,
    `proxy:\n  addr: "127.0.0.1:${ports.proxy}"\nadmin:\n  admin_keys: ["k"]\n  addr: "127.0.0.1:${ports.admin}"\n` +
      `observability:\n  metrics:\n    prometheus:\n      addr: "127.0.0.1:${ports.metrics}"\nresources_file: "${resources}"\n`,
  );
  const env = childEnv();
  const child: ChildProcess = spawn(process.execPath, [MAIN, '--config', cfg], {
    cwd: ROOT,
    env: { ...env, APP_KEY, UPSTREAM_KEY },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

  const statusUrl = `http://127.0.0.1:${ports.metrics}/status/config`;
  const status = async (): Promise<StatusBody> => (await (await fetch(statusUrl)).json()) as StatusBody;
  const metrics = async (): Promise<string> =>
    (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
  const until = async (what: string, cond: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
      try {
        if (await cond()) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; output:\n${out}`);
      await sleep(50);
    }
  };
  const chat = async (model: string): Promise<{ status: number; content: string }> => {
    const res = await fetch(`http://127.0.0.1:${ports.proxy}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${APP_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.text();
    if (res.status !== 200) return { status: res.status, content: text };
    const body = JSON.parse(text) as { choices: { message: { content: string } }[] };
    return { status: 200, content: body.choices[0]?.message.content ?? '' };
  };
  const adminModels = async (): Promise<
    { id: string; revision: number; value: { display_name: string } }[]
  > => {
    const res = await fetch(`http://127.0.0.1:${ports.admin}/admin/v1/models`, {
      headers: { authorization: 'Bearer k' },
    });
    assert.equal(res.status, 200);
    return (await res.json()) as { id: string; revision: number; value: { display_name: string } }[];
  };
  const failures = async (reason: string): Promise<number> => {
    const m = new RegExp(`^aisix_config_reload_failures_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(
      await metrics(),
    );
    return Number(m?.[1] ?? -1);
  };

  try {
    await until('ready', async () => (await fetch(`http://127.0.0.1:${ports.proxy}/readyz`)).status === 200);

    // A clean boot: file hashes, no revision fields, the model served.
    const goodHash = sha256(resources);
    const boot = await status();
    assert.equal(boot.state, 'synced');
    assert.deepEqual(Object.keys(boot.source).sort(), ['observed_at', 'source_hash', 'type']);
    assert.equal(boot.source.type, 'file');
    assert.equal(boot.source.source_hash, goodHash, 'source_hash = SHA-256 of the file bytes');
    assert.equal(boot.applied?.config_hash, goodHash, 'config_hash == source_hash on a clean load');
    assert.equal('applied_revision' in (boot.applied ?? {}), false);
    assert.equal(boot.applied?.resource_counts.models, 1);
    assert.equal(boot.last_failure, null);
    assert.deepEqual(boot.rejected, []);
    assert.deepEqual(await chat('chat'), { status: 200, content: 'hi from up-chat' });
    assert.deepEqual(
      (await adminModels()).map((m) => [m.value.display_name, m.revision]),
      [['chat', 1]],
    );

    // 1. A file that parses but does not validate: an unknown top-level key and a model whose
    //    provider key does not exist.
    writeFileSync(
      resources,
      `${resourcesText(['chat']).replace('provider_key: oa', 'provider_key: nope')}surprise: 1\n`,
    );
    const badHash = sha256(resources);
    child.kill('SIGHUP');
    await until('out_of_sync', async () => (await status()).state === 'out_of_sync');
    const bad = await status();
    assert.deepEqual(
      bad.rejected.map((r) => [r.resource_kind, r.resource_id, r.last_error_kind]),
      [
        ['', '', 'validate'],
        ['models', 'chat', 'validate'],
      ],
    );
    assert.match(bad.rejected[0]?.last_error ?? '', /^\(file\): unknown top-level key "surprise"/);
    assert.match(bad.rejected[1]?.last_error ?? '', /^models\[0\] \("chat"\): .*nope/);
    assert.equal(bad.last_failure?.last_error_kind, 'validate');
    assert.match(bad.last_failure?.last_error ?? '', /^resources file .*: 2 error\(s\):/);
    assert.equal(bad.last_reload?.successful, false);
    assert.equal(bad.source.source_hash, badHash, 'source_hash follows the rejected bytes');
    assert.equal(bad.applied?.config_hash, goodHash, 'config_hash stays what is served');
    assert.equal(await failures('validate'), 1);
    const m1 = await metrics();
    assert.match(m1, /^aisix_config_last_reload_successful 0$/m);
    assert.match(m1, /^aisix_config_rejected_resources\{kind="models"\} 1$/m);
    assert.doesNotMatch(m1, /aisix_config_applied_revision|aisix_config_source_connected/);
    // The previous snapshot keeps serving: proxy, admin reads, readiness.
    assert.deepEqual(await chat('chat'), { status: 200, content: 'hi from up-chat' });
    assert.deepEqual(
      (await adminModels()).map((m) => m.value.display_name),
      ['chat'],
    );
    assert.equal((await fetch(`http://127.0.0.1:${ports.proxy}/readyz`)).status, 200);

    // 2. Not YAML at all: a parse failure.
    writeFileSync(resources, '_format_version: "1"\nmodels: [\n');
    child.kill('SIGHUP');
    await until('the parse failure', async () => (await failures('parse')) === 1);
    const parse = await status();
    assert.equal(parse.state, 'out_of_sync');
    assert.equal(parse.last_failure?.last_error_kind, 'parse');
    assert.deepEqual(
      parse.rejected.map((r) => [r.resource_kind, r.resource_id, r.last_error_kind]),
      [['', '', 'parse']],
    );
    assert.match(parse.rejected[0]?.last_error ?? '', /^\(file\): invalid YAML/);
    const parseHash = sha256(resources);
    assert.equal(parse.source.source_hash, parseHash);

    // 3. No file: a fetch failure; the hash of the last bytes read stays.
    unlinkSync(resources);
    child.kill('SIGHUP');
    await until('the fetch failure', async () => (await failures('fetch')) === 1);
    const fetchFail = await status();
    assert.equal(fetchFail.state, 'out_of_sync');
    assert.equal(fetchFail.last_failure?.last_error_kind, 'fetch');
    assert.match(fetchFail.rejected[0]?.last_error ?? '', /^\(file\): cannot read file: ENOENT/);
    assert.equal(fetchFail.source.source_hash, parseHash);
    assert.deepEqual(await chat('chat'), { status: 200, content: 'hi from up-chat' });

    // 4. Fixed (and extended): synced again, the new generation served whole.
    writeFileSync(resources, resourcesText(['chat', 'chat2']));
    const fixedHash = sha256(resources);
    child.kill('SIGHUP');
    await until('synced', async () => (await status()).state === 'synced');
    const fixed = await status();
    assert.deepEqual(fixed.rejected, []);
    assert.equal(fixed.last_reload?.successful, true);
    assert.equal(fixed.source.source_hash, fixedHash);
    assert.equal(fixed.applied?.config_hash, fixedHash);
    assert.equal(fixed.applied?.resource_counts.models, 2);
    assert.equal(fixed.last_failure?.last_error_kind, 'fetch', 'last_failure is sticky');
    assert.deepEqual(await chat('chat2'), { status: 200, content: 'hi from up-chat2' });
    assert.deepEqual(
      (await adminModels()).map((m) => [m.value.display_name, m.revision]).sort(),
      [
        ['chat', 2],
        ['chat2', 2],
      ],
      'entry revision = load generation (boot 1, first good reload 2)',
    );
    const m2 = await metrics();
    assert.match(m2, /^aisix_config_last_reload_successful 1$/m);
    assert.match(m2, /^aisix_config_reloads_total 2$/m, 'boot + one good reload');
    assert.match(m2, /^aisix_config_rejected_resources\{kind="models"\} 0$/m);
    assert.match(m2, new RegExp(`^aisix_config_hash_info\\{hash="${fixedHash}"\\} 1$`, 'm'));
    assert.deepEqual(asked, ['up-chat', 'up-chat', 'up-chat', 'up-chat2']);
    assert.ok(!out.includes(UPSTREAM_KEY) && !out.includes(APP_KEY), 'no secret in the log');

    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  } finally {
    child.kill('SIGKILL');
  }
});

test('embedded store: /status/config names the source embedded, with the store revision', async () => {
  const ports = { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
  const env = childEnv();
  const cfg = join(tmp, 'embedded.yaml');
  writeFileSync(
    cfg,
    `proxy:\n  addr: "127.0.0.1:${ports.proxy}"\nadmin:\n  admin_keys: ["k"]\n  addr: "127.0.0.1:${ports.admin}"\n` +
      `observability:\n  metrics:\n    prometheus:\n      addr: "127.0.0.1:${ports.metrics}"\n` +
      `data_dir: "${join(tmp, 'embedded-data')}"\n`,
  );
  const child = spawn(process.execPath, [MAIN, '--config', cfg], { cwd: ROOT, env });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const status = async (): Promise<StatusBody> =>
    (await (await fetch(`http://127.0.0.1:${ports.metrics}/status/config`)).json()) as StatusBody;
  const deadline = Date.now() + 15_000;
  const waitUntil = async (what: string, cond: () => Promise<boolean>): Promise<void> => {
    for (;;) {
      if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
      try {
        if (await cond()) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; output:\n${out}`);
      await sleep(50);
    }
  };
  try {
    await waitUntil(
      'ready',
      async () => (await fetch(`http://127.0.0.1:${ports.proxy}/readyz`)).status === 200,
    );
    const created = await fetch(`http://127.0.0.1:${ports.admin}/admin/v1/provider_keys`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      body: JSON.stringify({ display_name: 'oa', provider: 'openai', api_key: 'sk-embedded-0001' }),
    });
    const createdText = await created.text();
    assert.equal(created.status, 200, createdText);
    const { revision } = JSON.parse(createdText) as { revision: number };
    await waitUntil('the write applied', async () => (await status()).source.observed_revision === revision);
    const st = await status();
    assert.equal(st.state, 'synced');
    assert.deepEqual(Object.keys(st.source).sort(), [
      'connected',
      'observed_at',
      'observed_revision',
      'source_hash',
      'type',
    ]);
    assert.equal(st.source.type, 'embedded');
    assert.equal(st.source.connected, true);
    assert.equal(st.applied?.applied_revision, revision);
    const m = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
    assert.match(m, new RegExp(`^aisix_config_observed_revision ${revision}$`, 'm'));
    assert.match(m, /^aisix_config_source_connected 1$/m);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  } finally {
    child.kill('SIGKILL');
  }
});
