// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${VAR}` here is resources-file text.
/**
 * `/status/config` in file mode, field by field against control-plane §6.1 (which fields exist,
 * their types and formats, `resource_counts` for every kind, `apply_seq` moving only with the
 * applied hash, the `empty` state), and the file mode's refusal of a file that violates a
 * cross-check (§5.4): at boot the report on stderr and exit 1 with nothing bound; on SIGHUP
 * `out_of_sync` with one `rejected[]` row per entry and the previous snapshot serving.
 * The built `aisix` binary, real listeners.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KIND_NAMES } from '@aisix/core';
import { freePort } from '@aisix/testkit';
import { childEnv, MAIN, ROOT } from './test-support.js';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-status-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const ENV = {
  UPSTREAM_KEY: 'sk-upstream-status-secret',
  APP_KEY: 'sk-app-status-1',
  APP2_KEY: 'sk-app-status-2',
};
const RFC3339_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const HEX64 = /^[0-9a-f]{64}$/;

const GOOD = [
  '_format_version: "1"',
  'provider_keys:',
  '  - {display_name: oa, provider: openai, api_key: "${UPSTREAM_KEY}", api_base: "http://127.0.0.1:9/v1"}',
  '  - {display_name: ob, provider: openai, api_key: "${UPSTREAM_KEY}", api_base: "http://127.0.0.1:9/v1"}',
  'models:',
  '  - {display_name: chat, provider: openai, model_name: gpt-4o-mini, provider_key: oa}',
  '  - {display_name: chat-b, provider: openai, model_name: gpt-4o-mini, provider_key: ob}',
  '  - {display_name: grp, routing: {strategy: failover, targets: [{model: chat}, {model: chat-b}]}}',
  'api_keys:',
  '  - {display_name: app, key_env: APP_KEY, allowed_models: [chat, grp]}',
  '  - {display_name: app2, key_env: APP2_KEY, allowed_models: [chat-b]}',
  'rate_limit_policies:',
  '  - {name: p1, scope: model, scope_ref: chat, window: minute, max_requests: 10}',
  '',
].join('\n');

/** GOOD with three cross-check violations in three entries (and one valid change). */
const CROSS_BAD = GOOD.replace('{model: chat-b}]', '{model: ghost}]')
  .replace('allowed_models: [chat-b]', 'allowed_models: [nowhere]')
  .replace('provider_key: ob}', 'provider_key: oc}');

interface Status {
  state: string;
  source: Record<string, unknown>;
  applied?: Record<string, unknown> & { resource_counts: Record<string, number>; apply_seq: number };
  last_reload?: { successful: boolean; at: string };
  last_failure: { at: string; last_error_kind: string; last_error: string } | null;
  rejected: Record<string, unknown>[];
  partially_compatible: unknown[];
}

async function configFor(resources: string) {
  const ports = { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
  const cfg = join(tmp, `config-${ports.proxy}.yaml`);
  writeFileSync(
    cfg,
    `proxy:\n  addr: "127.0.0.1:${ports.proxy}"\nadmin:\n  admin_keys: ["k"]\n  addr: "127.0.0.1:${ports.admin}"\n` +
      `observability:\n  metrics:\n    prometheus:\n      addr: "127.0.0.1:${ports.metrics}"\nresources_file: "${resources}"\n`,
  );
  return { cfg, ports };
}

function serve(cfg: string) {
  const child: ChildProcess = spawn(process.execPath, [MAIN, '--config', cfg], {
    cwd: ROOT,
    env: childEnv(ENV),
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, exited, out: () => out };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('/status/config (file mode): every field of §6.1 with its type and format; counts for every kind; apply_seq follows the hash', async () => {
  const resources = join(tmp, 'good.yaml');
  writeFileSync(resources, GOOD);
  const { cfg, ports } = await configFor(resources);
  const p = serve(cfg);
  const url = `http://127.0.0.1:${ports.metrics}/status/config`;
  const status = async (): Promise<Status> => {
    const r = await fetch(url);
    assert.equal(r.status, 200, 'always 200');
    return (await r.json()) as Status;
  };
  const until = async (what: string, cond: (s: Status) => boolean): Promise<Status> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (p.child.exitCode !== null) assert.fail(`aisix exited ${p.child.exitCode}: ${p.out()}`);
      try {
        const s = await status();
        if (cond(s)) return s;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${p.out()}`);
      await sleep(50);
    }
  };
  try {
    const boot = await until('synced', (s) => s.state === 'synced');
    const hash = sha256(resources);
    assert.deepEqual(Object.keys(boot).sort(), [
      'applied',
      'last_failure',
      'last_reload',
      'partially_compatible',
      'rejected',
      'source',
      'state',
    ]);
    // source: file mode omits connected and observed_revision
    assert.deepEqual(Object.keys(boot.source).sort(), ['observed_at', 'source_hash', 'type']);
    assert.equal(boot.source.type, 'file');
    assert.equal(boot.source.source_hash, hash);
    assert.match(String(boot.source.observed_at), RFC3339_SECONDS);
    // applied: file mode omits applied_revision
    const applied = boot.applied;
    assert.ok(applied);
    assert.deepEqual(Object.keys(applied).sort(), [
      'applied_at',
      'apply_seq',
      'config_hash',
      'resource_counts',
    ]);
    assert.equal(applied.config_hash, hash, 'config_hash == source_hash on a clean load');
    assert.match(String(applied.config_hash), HEX64);
    assert.match(String(applied.applied_at), RFC3339_SECONDS);
    assert.ok(Number.isInteger(applied.apply_seq) && applied.apply_seq >= 1);
    // every kind listed (decisions.md 14), the file's own counts, zero for the rest
    const want = Object.fromEntries(KIND_NAMES.map((k) => [k, 0]));
    Object.assign(want, { provider_keys: 2, models: 3, api_keys: 2, rate_limit_policies: 1 });
    assert.deepEqual(applied.resource_counts, want);
    // the boot load is the first reload
    assert.equal(boot.last_reload?.successful, true);
    assert.match(String(boot.last_reload?.at), RFC3339_SECONDS);
    assert.equal(boot.last_failure, null);
    assert.deepEqual(boot.rejected, []);
    assert.deepEqual(boot.partially_compatible, []);

    // SIGHUP with the same bytes: a successful reload, the applied hash unchanged, so apply_seq stays.
    const reloads = async () =>
      Number(
        /^aisix_config_reloads_total (\d+)$/m.exec(
          await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text(),
        )?.[1],
      );
    assert.equal(await reloads(), 1);
    p.child.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while ((await reloads()) < 2 && Date.now() < deadline) await sleep(50);
    assert.equal(await reloads(), 2);
    const same = await status();
    assert.equal(same.state, 'synced');
    assert.equal(
      same.applied?.apply_seq,
      applied.apply_seq,
      'apply_seq moves only when the applied hash does',
    );
    assert.equal(same.applied?.config_hash, hash);

    // A cross-check violation on SIGHUP: wholly rejected, one row per entry, sorted by kind then
    // id (the entry identity in file mode), the previous snapshot still counted and served.
    writeFileSync(resources, CROSS_BAD);
    p.child.kill('SIGHUP');
    const bad = await until('out_of_sync', (s) => s.state === 'out_of_sync');
    assert.deepEqual(
      bad.rejected.map((r) => [r.resource_kind, r.resource_id, r.last_error_kind]),
      [
        ['api_keys', 'app2', 'validate'],
        ['models', 'chat-b', 'validate'],
        ['models', 'grp', 'validate'],
      ],
    );
    for (const r of bad.rejected) {
      assert.deepEqual(Object.keys(r).sort(), [
        'first_seen_at',
        'last_error',
        'last_error_kind',
        'last_seen_at',
        'resource_id',
        'resource_kind',
      ]);
      assert.match(String(r.first_seen_at), RFC3339_SECONDS);
      assert.match(String(r.last_seen_at), RFC3339_SECONDS);
    }
    assert.match(
      String(bad.rejected[2]?.last_error),
      /^models\[2\] \("grp"\): routing\.targets\[1\]\.model: "ghost"/,
    );
    assert.equal(bad.last_failure?.last_error_kind, 'validate');
    assert.match(String(bad.last_failure?.at), RFC3339_SECONDS);
    assert.match(
      bad.last_failure?.last_error ?? '',
      new RegExp(`^resources file ${resources}: 3 error\\(s\\):\\n  - `),
    );
    assert.equal(bad.last_reload?.successful, false);
    assert.equal(bad.applied?.config_hash, hash, 'the served config is still the good file');
    assert.equal(bad.applied?.apply_seq, applied.apply_seq);
    assert.deepEqual(bad.applied?.resource_counts, want);
    assert.equal(bad.source.source_hash, sha256(resources));
    assert.ok(!JSON.stringify(bad).includes(ENV.UPSTREAM_KEY));

    // Emptied to no resources at all: `empty`, every count 0, apply_seq moved with the hash.
    writeFileSync(resources, '_format_version: "1"\n');
    p.child.kill('SIGHUP');
    const empty = await until('empty', (s) => s.state === 'empty');
    assert.deepEqual(empty.applied?.resource_counts, Object.fromEntries(KIND_NAMES.map((k) => [k, 0])));
    assert.equal(empty.applied?.apply_seq, applied.apply_seq + 1);
    assert.equal(empty.applied?.config_hash, sha256(resources));
    assert.deepEqual(empty.rejected, []);
    assert.equal(empty.last_failure?.last_error_kind, 'validate', 'last_failure is sticky until restart');
    p.child.kill('SIGTERM');
    assert.equal(await p.exited, 0, p.out());
  } finally {
    p.child.kill('SIGKILL');
  }
});

test('file mode boot with a cross-check violation: the report on stderr, exit 1, nothing bound', async () => {
  const resources = join(tmp, 'cross-bad.yaml');
  writeFileSync(resources, CROSS_BAD);
  const { cfg, ports } = await configFor(resources);
  const r = spawnSync(process.execPath, [MAIN, '--config', cfg], {
    cwd: ROOT,
    env: childEnv(ENV),
    encoding: 'utf8',
    timeout: 15_000,
  });
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  const at = lines.findIndex((l) => l.startsWith('resources file '));
  assert.ok(at >= 0, r.stderr);
  assert.equal(lines[at], `resources file ${resources}: 3 error(s):`);
  assert.match(
    lines[at + 1] ?? '',
    /^ {2}- models\[1\] \("chat-b"\): provider_key "oc" names no provider key/,
  );
  assert.match(
    lines[at + 2] ?? '',
    /^ {2}- models\[2\] \("grp"\): routing\.targets\[1\]\.model: "ghost" names no model/,
  );
  assert.match(
    lines[at + 3] ?? '',
    /^ {2}- api_keys\[1\] \("app2"\): allowed_models\[0\]: "nowhere" names no model/,
  );
  assert.ok(!r.stderr.includes(ENV.UPSTREAM_KEY) && !r.stdout.includes(ENV.UPSTREAM_KEY));
  // the same report from `aisix validate`
  const v = spawnSync(process.execPath, [MAIN, 'validate', '--resources', resources], {
    cwd: ROOT,
    env: childEnv(ENV),
    encoding: 'utf8',
  });
  assert.equal(v.status, 1);
  assert.equal(v.stderr.trimEnd(), lines.slice(at, at + 4).join('\n'));
  // nothing listens on the proxy port
  await assert.rejects(fetch(`http://127.0.0.1:${ports.proxy}/livez`));
});
