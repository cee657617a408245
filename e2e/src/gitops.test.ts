/**
 * GitOps as a CI pipeline runs it (issue 13): the built `aisix` CLI against real clusters,
 * each one etcd prefix (real etcd) served by a real `--role all` process.
 *
 *  1. cluster A is built through its Admin API; `aisix export --etcd` and `aisix export
 *     --admin` both write the same loadable resources file (secrets as ${VAR} placeholders);
 *  2. `aisix apply` puts it on a fresh cluster B (dependencies first), `aisix diff` is then
 *     empty, and B serves the caller key with A's upstream credential;
 *  3. an edit shows up in diff as exactly that change, apply converges, a changed secret is
 *     reported without being printed, --prune deletes what the file dropped;
 *  4. a bad file (and a file whose secret variable is unset) changes nothing and exits 1;
 *  5. export of a cluster holding what the gateway serves leniently (unknown fields), what it
 *     rejects (RED documents) and api keys sharing a name: both sources write a loadable file,
 *     say what they left out, and exit 3 when stored documents were skipped; with
 *     --reveal-secrets the written file is 0600 even when it existed as 0644.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testEtcd } from '@aisix/testkit';
import {
  ADMIN_KEY,
  AdminClient,
  type AisixProcess,
  chatStatus,
  killAll,
  MAIN,
  type MockUpstream,
  ROOT,
  removeDir,
  startAisix,
  startMockUpstream,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

const CALLER = 'sk-ci-caller-0123456789abcdef';
const UPSTREAM_SECRET = 'sk-upstream-gitops-9876';
const SECRET_VAR = 'PROVIDER_KEY_OPENAI_MAIN_API_KEY';
const FILE_KINDS = [
  'provider_keys',
  'models',
  'api_keys',
  'guardrails',
  'mcp_servers',
  'a2a_agents',
  'cache_policies',
  'observability_exporters',
  'rate_limit_policies',
  'oidc_providers',
];

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the built CLI as a CI job would (async: the mock upstream lives in this process). */
function aisix(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AISIX_')) base[k] = v;
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: ROOT,
    env: { ...base, AISIX_ADMIN_KEY: ADMIN_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

/** Every file-kind entry of a cluster (ids, values, revisions), to prove nothing changed. */
async function everything(api: AdminClient): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const kind of FILE_KINDS) out[kind] = await api.list(kind);
  return out;
}

/** A direct etcd write through its JSON gateway, as an operator's etcdctl would do. */
async function etcdPutAt(endpoint: string, key: string, value: string): Promise<void> {
  const b64 = (x: string) => Buffer.from(x, 'utf8').toString('base64');
  const res = await fetch(`${endpoint}/v3/kv/put`, {
    method: 'POST',
    body: JSON.stringify({ key: b64(key), value: b64(value) }),
  });
  assert.equal(res.status, 200, `etcd put ${key}`);
}

/** The file without its header comment (which names the source). */
const body = (text: string) =>
  text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');

describe('gitops: export -> apply -> diff across two etcd clusters', () => {
  const dir = tempDir('gitops');
  const file = join(dir, 'resources.yaml');
  let upstream: MockUpstream;
  let a: AisixProcess;
  let b: AisixProcess;
  let apiA: AdminClient;
  let apiB: AdminClient;
  let etcdA: { endpoint: string; prefix: string };
  const secretEnv = { [SECRET_VAR]: UPSTREAM_SECRET };

  before(async () => {
    etcdA = await testEtcd();
    const etcdB = await testEtcd();
    upstream = await startMockUpstream();
    [a, b] = await Promise.all([
      startAisix({ name: 'cluster-a', dir, role: 'all', etcd: etcdA }),
      startAisix({ name: 'cluster-b', dir, role: 'all', etcd: etcdB }),
    ]);
    await Promise.all([
      waitStatus(a, `${a.adminUrl}/readyz`, 200),
      waitStatus(b, `${b.adminUrl}/readyz`, 200),
    ]);
    apiA = new AdminClient(a.adminUrl);
    apiB = new AdminClient(b.adminUrl);

    const pk = await apiA.create('provider_keys', {
      display_name: 'openai-main',
      provider: 'openai',
      api_key: UPSTREAM_SECRET,
      api_base: upstream.apiBase,
      // A `$` in a value must survive the file's interpolation (exported as `$$`).
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a gateway header template
      request: { default_headers: { 'x-caller': '${request.api_key.name}' } },
    });
    const chat = await apiA.create('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: pk.id,
    });
    await apiA.create('models', {
      display_name: 'chat-route',
      routing: { targets: [{ model: 'chat' }], strategy: 'failover' },
    });
    const key = await apiA.create('api_keys', {
      display_name: 'ci-caller',
      key_hash: createHash('sha256').update(CALLER).digest('hex'),
      allowed_models: ['chat', 'chat-route'],
    });
    await apiA.create('rate_limit_policies', {
      name: 'chat-rpm',
      scope: 'model',
      scope_ref: chat.id,
      window: 'minute',
      max_requests: 1000,
    });
    await apiA.create('cache_policies', {
      name: 'caller-cache',
      applies_to: `api_key:${key.id}`,
      ttl_seconds: 60,
    });
    const g = await apiA.create('guardrails', {
      name: 'no-forbidden',
      kind: 'keyword',
      patterns: [{ kind: 'literal', value: 'forbidden-word' }],
    });
    await apiA.create('guardrail_attachments', {
      guardrail_id: g.id,
      scope_type: 'model',
      scope_id: chat.id,
      priority: 10,
    });
  });

  after(async () => {
    await killAll([a, b]);
    await upstream?.close();
    removeDir(dir);
  });

  test('export from etcd and from the Admin API: the same loadable file, secrets as placeholders', async () => {
    const fromEtcd = await aisix(['export', '--etcd', etcdA.endpoint, '--prefix', etcdA.prefix, '-o', file]);
    assert.equal(fromEtcd.code, 0, fromEtcd.err);
    const text = readFileSync(file, 'utf8');
    assert.ok(!text.includes(UPSTREAM_SECRET), 'the upstream secret is not in the file');
    assert.ok(!fromEtcd.err.includes(UPSTREAM_SECRET) && !fromEtcd.out.includes(UPSTREAM_SECRET));
    assert.match(text, new RegExp(`api_key: \\$\\{${SECRET_VAR}\\}`));
    assert.match(fromEtcd.err, new RegExp(`${SECRET_VAR}\\s+\\(provider_keys "openai-main" api_key\\)`));
    assert.match(fromEtcd.err, /1 guardrail_attachments not exported/);
    assert.match(text, /provider_key: openai-main/, 'references by id become names');
    assert.match(text, /scope_ref: chat\n/);
    assert.match(text, /x-caller: \$\$\{request\.api_key\.name\}/);
    assert.doesNotMatch(text, /\bid: /);

    const validate = await aisix(['validate', '--resources', file], secretEnv);
    assert.equal(validate.code, 0, validate.err);
    assert.equal(validate.out.trim(), `OK: ${file} loaded 7 resource(s)`);

    const fromAdmin = await aisix(['export', '--admin', a.adminUrl]);
    assert.equal(fromAdmin.code, 0, fromAdmin.err);
    assert.equal(body(fromAdmin.out), body(text), 'both sources export the same file');
    assert.ok(!fromAdmin.out.includes(ADMIN_KEY) && !fromAdmin.err.includes(ADMIN_KEY));

    const revealed = await aisix([
      'export',
      '--etcd',
      etcdA.endpoint,
      '--prefix',
      etcdA.prefix,
      '--reveal-secrets',
    ]);
    assert.equal(revealed.code, 0, revealed.err);
    assert.match(revealed.out, new RegExp(`api_key: ${UPSTREAM_SECRET}`));
  });

  test('apply to a fresh cluster, then diff is empty and the cluster serves the caller', async () => {
    const plan = await aisix(['diff', '-f', file, '--admin', b.adminUrl], secretEnv);
    assert.equal(plan.code, 2, plan.err);
    assert.match(plan.out, /Plan: 7 to create, 0 to update, 0 to delete/);

    const applied = await aisix(['apply', '-f', file, '--admin', b.adminUrl], secretEnv);
    assert.equal(applied.code, 0, applied.err);
    const created = applied.out.split('\n').filter((l) => l.includes(': created'));
    const order = created.map((l) => /^\+ create (\S+ "[^"]+")/.exec(l)?.[1]);
    assert.deepEqual(order, [
      'provider_keys "openai-main"',
      'guardrails "no-forbidden"',
      'models "chat"',
      'models "chat-route"',
      'api_keys "ci-caller"',
      'cache_policies "caller-cache"',
      'rate_limit_policies "chat-rpm"',
    ]);

    const again = await aisix(['diff', '-f', file, '--admin', b.adminUrl], secretEnv);
    assert.equal(again.code, 0, again.out + again.err);
    assert.match(again.out, /No changes: .* matches the file \(7 unchanged\)/);
    const reapply = await aisix(['apply', '-f', file, '--admin', b.adminUrl], secretEnv);
    assert.equal(reapply.code, 0, reapply.err);
    assert.doesNotMatch(reapply.out, /created|updated|deleted/, 'apply is idempotent');

    // References point at B's own ids, and B calls the upstream with A's credential.
    const pkB = (await apiB.list('provider_keys'))[0];
    const chatB = (await apiB.list('models')).find((m) => m.value.display_name === 'chat');
    const keyB = (await apiB.list('api_keys'))[0];
    assert.equal(chatB?.value.provider_key_id, pkB?.id);
    const policy = (await apiB.list('rate_limit_policies'))[0];
    assert.equal(policy?.value.scope_ref, chatB?.id);
    assert.equal((await apiB.list('cache_policies'))[0]?.value.applies_to, `api_key:${keyB?.id}`);
    await waitUntil(
      'cluster B answers the caller on chat-route',
      async () => ((await chatStatus(b, CALLER, 'chat-route')).status === 200 ? true : undefined),
      { timeoutMs: 10_000, alive: [b] },
    );
    assert.equal(upstream.calls.at(-1)?.authorization, `Bearer ${UPSTREAM_SECRET}`);
  });

  test('an edit shows in diff as exactly that change; apply converges; secrets never printed', async () => {
    const original = readFileSync(file, 'utf8');
    const edited = original.replace('model_name: gpt-mock', 'model_name: gpt-mock\n    timeout: 1234');
    assert.notEqual(edited, original);
    writeFileSync(file, edited);
    const newSecret = 'sk-upstream-rotated-5555';
    const env = { [SECRET_VAR]: newSecret };
    const plan = await aisix(['diff', '-f', file, '--admin', b.adminUrl], env);
    assert.equal(plan.code, 2, plan.err);
    assert.deepEqual(plan.out.trim().split('\n'), [
      '~ update provider_keys "openai-main"',
      '    api_key: (secret) changed',
      '~ update models "chat"',
      '    timeout: (unset) -> 1234',
      'Plan: 0 to create, 2 to update, 0 to delete (5 unchanged).',
    ]);
    assert.ok(!plan.out.includes(newSecret) && !plan.out.includes(UPSTREAM_SECRET));

    const dry = await aisix(['apply', '--dry-run', '-f', file, '--admin', b.adminUrl], env);
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.out, /Dry run: nothing was written/);
    assert.equal(
      (await aisix(['diff', '-f', file, '--admin', b.adminUrl], env)).code,
      2,
      'dry run wrote nothing',
    );

    const applied = await aisix(['apply', '-f', file, '--admin', b.adminUrl], env);
    assert.equal(applied.code, 0, applied.err);
    assert.ok(!applied.out.includes(newSecret) && !applied.err.includes(newSecret));
    const chatB = (await apiB.list('models')).find((m) => m.value.display_name === 'chat');
    assert.equal(chatB?.value.timeout, 1234);
    const after = await aisix(['diff', '-f', file, '--admin', b.adminUrl], env);
    assert.equal(after.code, 0, after.out + after.err);
    await waitUntil(
      'cluster B calls the upstream with the rotated credential',
      async () => {
        if ((await chatStatus(b, CALLER, 'chat')).status !== 200) return undefined;
        return upstream.calls.at(-1)?.authorization === `Bearer ${newSecret}` ? true : undefined;
      },
      { timeoutMs: 10_000, alive: [b] },
    );
    secretEnv[SECRET_VAR] = newSecret;
  });

  test('entries the file drops are kept without --prune and deleted with it', async () => {
    const text = readFileSync(file, 'utf8');
    const dropped = text.replace(/rate_limit_policies:\n(?: {2}.*\n| {4}.*\n)+/, '');
    assert.notEqual(dropped, text);
    writeFileSync(file, dropped);

    const keep = await aisix(['diff', '-f', file, '--admin', b.adminUrl], secretEnv);
    assert.equal(keep.code, 0, keep.out + keep.err);
    assert.match(
      keep.out,
      /1 live resource\(s\) not in the file \(kept; --prune deletes them\): rate_limit_policies "chat-rpm"/,
    );

    const plan = await aisix(['diff', '--prune', '-f', file, '--admin', b.adminUrl], secretEnv);
    assert.equal(plan.code, 2, plan.err);
    assert.match(plan.out, /^- delete rate_limit_policies "chat-rpm"$/m);
    assert.match(plan.out, /Plan: 0 to create, 0 to update, 1 to delete/);

    const applied = await aisix(['apply', '--prune', '-f', file, '--admin', b.adminUrl], secretEnv);
    assert.equal(applied.code, 0, applied.err);
    assert.deepEqual(await apiB.list('rate_limit_policies'), []);
    const clean = await aisix(['diff', '--prune', '-f', file, '--admin', b.adminUrl], secretEnv);
    assert.equal(clean.code, 0, clean.out + clean.err);
  });

  test('a bad file changes nothing and exits 1', async () => {
    const good = readFileSync(file, 'utf8');
    const before = await everything(apiB);
    const bad = join(dir, 'bad.yaml');
    // A new, valid provider key (would be created first) next to a model whose provider key
    // does not exist: the whole file is refused before anything is written.
    writeFileSync(
      bad,
      good
        .replace(
          'provider_keys:\n',
          'provider_keys:\n  - display_name: extra\n    provider: openai\n    api_key: sk-extra-0000000000\n',
        )
        .replace('provider_key: openai-main', 'provider_key: nope'),
    );
    for (const args of [
      ['apply', '-f', bad, '--admin', b.adminUrl, '--prune'],
      ['diff', '-f', bad, '--admin', b.adminUrl],
    ]) {
      const r = await aisix(args, secretEnv);
      assert.equal(r.code, 1, `${args[0]}: ${r.out}${r.err}`);
      assert.match(r.err, /provider_key "nope" names no provider key/);
    }
    const noSecret = await aisix(['apply', '-f', file, '--admin', b.adminUrl, '--prune']);
    assert.equal(noSecret.code, 1);
    assert.match(noSecret.err, new RegExp(`${SECRET_VAR}`));
    assert.match(noSecret.err, /nothing was changed/);
    const usage = await aisix(['diff', '-f', file]);
    assert.equal(usage.code, 1, 'a diff usage error is not the "changes" exit code');
    assert.deepEqual(await everything(apiB), before, 'cluster B is unchanged');
  });

  test('a step the Admin API refuses stops the run: what ran was in the plan, the rest is listed', async () => {
    const hash = (s: string) => createHash('sha256').update(s).digest('hex');
    await apiB.create('api_keys', { display_name: 'other', key_hash: hash('sk-other'), allowed_models: [] });
    const stop = join(dir, 'stop.yaml');
    // Plan: create a provider key, then give ci-caller the hash "other" holds (409 from the
    // Admin API's uniqueness check), then create a cache policy.
    writeFileSync(
      stop,
      readFileSync(file, 'utf8')
        .replace(
          'provider_keys:\n',
          'provider_keys:\n  - display_name: extra\n    provider: openai\n    api_key: sk-extra-0000000000\n',
        )
        .replace(hash(CALLER), hash('sk-other'))
        .replace('cache_policies:\n', 'cache_policies:\n  - name: late-cache\n    applies_to: all\n'),
    );
    const r = await aisix(['apply', '-f', stop, '--admin', b.adminUrl], secretEnv);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.out, /Plan: 2 to create, 1 to update, 0 to delete/);
    assert.match(r.out, /^\+ create provider_keys "extra": created \(id [0-9a-f-]{36}\)$/m);
    assert.match(r.err, /^error: ~ update api_keys "ci-caller": PUT \/api_keys\/\S+ → 409 /m);
    assert.match(
      r.err,
      /Stopped: 1 of 3 step\(s\) applied; not applied: ~ update api_keys "ci-caller"; \+ create cache_policies "late-cache"/,
    );
    const names = (await apiB.list('provider_keys')).map((e) => e.value.display_name).sort();
    assert.deepEqual(names, ['extra', 'openai-main']);
    assert.deepEqual(
      (await apiB.list('cache_policies')).map((e) => e.value.name),
      ['caller-cache'],
    );
    const caller = (await apiB.list('api_keys')).find((e) => e.value.display_name === 'ci-caller');
    assert.equal(caller?.value.key_hash, hash(CALLER));
  });
});

describe('gitops: export decodes as the gateway does (control-plane §2.6)', () => {
  const dir = tempDir('gitops-lenient');
  let etcd: { endpoint: string; prefix: string };
  let p: AisixProcess;
  let api: AdminClient;
  let redId = '';
  let yellowId = '';
  const SECRET = 'sk-upstream-lenient-4242';
  const secretEnv = { [SECRET_VAR]: SECRET };

  const etcdPut = (key: string, value: string) => etcdPutAt(etcd.endpoint, key, value);

  before(async () => {
    etcd = await testEtcd();
    p = await startAisix({ name: 'lenient', dir, role: 'all', etcd });
    await waitStatus(p, `${p.adminUrl}/readyz`, 200);
    api = new AdminClient(p.adminUrl);
    const pk = await api.create('provider_keys', {
      display_name: 'openai-main',
      provider: 'openai',
      api_key: SECRET,
    });
    const chat = await api.create('models', {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-mock',
      provider_key_id: pk.id,
    });
    // The Admin API allows two api keys with one display_name.
    for (const c of ['a', 'b']) {
      await api.create('api_keys', {
        display_name: 'dupe',
        key_hash: c.repeat(64),
        allowed_models: ['chat'],
      });
    }
    const g = await api.create('guardrails', {
      name: 'no-forbidden',
      kind: 'keyword',
      patterns: [{ kind: 'literal', value: 'forbidden-word' }],
    });
    await api.create('guardrail_attachments', {
      guardrail_id: g.id,
      scope_type: 'model',
      scope_id: chat.id,
      priority: 1,
    });
    // Served with the unknown field ignored (YELLOW), and not served at all (RED).
    yellowId = '11111111-1111-4111-8111-111111111111';
    redId = '22222222-2222-4222-8222-222222222222';
    await etcdPut(
      `${etcd.prefix}/models/${yellowId}`,
      JSON.stringify({
        display_name: 'm5',
        provider: 'openai',
        model_name: 'gpt-5',
        provider_key_id: pk.id,
        bogus: 'bogus-value-never-shown',
      }),
    );
    await etcdPut(
      `${etcd.prefix}/models/${redId}`,
      JSON.stringify({ display_name: 'm6', provider: 'openai' }),
    );
    await waitUntil(
      'the gateway serves m5 and rejects m6',
      async () => {
        const r = await api.raw('GET', '/status/config');
        const body = JSON.parse(r.body) as {
          rejected?: { resource_id: string }[];
          partially_compatible?: unknown[];
        };
        const rejected = body.rejected?.some((x) => x.resource_id === redId) ?? false;
        return rejected && (body.partially_compatible?.length ?? 0) > 0 ? true : undefined;
      },
      { timeoutMs: 10_000, alive: [p] },
    );
  });

  after(async () => {
    await p?.kill();
    removeDir(dir);
  });

  test('unknown fields, a RED document, duplicate api-key names: both sources write a loadable file, exit 3', async () => {
    const file = join(dir, 'lenient.yaml');
    const fromEtcd = await aisix(['export', '--etcd', etcd.endpoint, '--prefix', etcd.prefix, '-o', file]);
    assert.equal(fromEtcd.code, 3, fromEtcd.err);
    const text = readFileSync(file, 'utf8');
    const fromAdmin = await aisix(['export', '--admin', p.adminUrl]);
    assert.equal(fromAdmin.code, 3, fromAdmin.err);
    assert.equal(body(fromAdmin.out), body(text), 'both sources export the same file');

    for (const r of [fromEtcd, fromAdmin]) {
      assert.match(
        r.err,
        new RegExp(
          `note: models/${yellowId}: left out 1 field\\(s\\) the gateway ignores \\(unknown\\): bogus\n`,
        ),
      );
      assert.match(
        r.err,
        new RegExp(`note: skipped models/${redId}: the gateway rejects it \\(schema_failed\\): .*model_name`),
      );
      assert.match(
        r.err,
        /shares its display_name "dupe" with 1 other api key\(s\): exported as "dupe-[0-9a-f]{8}"/,
      );
      assert.match(r.err, /exported 6 resource\(s\) .*; 1 stored document\(s\) left out/);
      assert.ok(!r.err.includes('bogus-value-never-shown') && !r.err.includes(SECRET));
    }
    assert.match(text, /display_name: m5\n/);
    assert.doesNotMatch(text, /bogus|m6/);
    const validate = await aisix(['validate', '--resources', file], secretEnv);
    assert.equal(validate.code, 0, validate.err);
    assert.equal(validate.out.trim(), `OK: ${file} loaded 6 resource(s)`);
  });

  test('export --admin says how many guardrail attachments and MCP policies it left out', async () => {
    const r = await aisix(['export', '--admin', p.adminUrl]);
    assert.match(r.err, /note: 1 guardrail_attachments not exported: a resources file cannot express them/);
  });

  test('--reveal-secrets -o over an existing 0644 file leaves it 0600', async () => {
    // A prefix holding one provider key only, so this checks the file mode and nothing else.
    const prefix = `${etcd.prefix}-reveal`;
    await etcdPut(
      `${prefix}/provider_keys/33333333-3333-4333-8333-333333333333`,
      JSON.stringify({ display_name: 'openai-main', provider: 'openai', api_key: SECRET }),
    );
    const file = join(dir, 'revealed.yaml');
    writeFileSync(file, 'old\n', { mode: 0o644 });
    chmodSync(file, 0o644);
    const r = await aisix([
      'export',
      '--etcd',
      etcd.endpoint,
      '--prefix',
      prefix,
      '--reveal-secrets',
      '-o',
      file,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.ok(readFileSync(file, 'utf8').includes(`api_key: ${SECRET}`));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const fresh = join(dir, 'fresh.yaml');
    const r2 = await aisix([
      'export',
      '--etcd',
      etcd.endpoint,
      '--prefix',
      prefix,
      '--reveal-secrets',
      '-o',
      fresh,
    ]);
    assert.equal(r2.code, 0, r2.err);
    assert.equal(statSync(fresh).mode & 0o777, 0o600);
  });
});

describe('gitops: apply against the Admin API write rules (references, unique values, rotation)', () => {
  // The Admin API keeps an api key's key_hash, its (jwt_provider, jwt_subject) pair and an
  // enabled OIDC provider's issuer unique (409). A file that moves one of them to another
  // entry describes a valid end state: apply frees the value before it takes it.
  const dir = tempDir('gitops-moves');
  const file = join(dir, 'moves.yaml');
  let p: AisixProcess;
  let api: AdminClient;
  let etcd: { endpoint: string; prefix: string };
  const hex = (c: string) => c.repeat(64);
  const idp = (name: string, issuer: string, extra = '') =>
    `  - { name: ${name}, issuer: "${issuer}", audiences: [aisix], jwks_uri: "https://idp.example/jwks"${extra} }\n`;
  const key = (name: string, hash: string, extra = '') =>
    `  - { display_name: ${name}, key_hash: "${hash}", allowed_models: []${extra} }\n`;

  /** Applies `text` with --prune; the cluster must then match it (diff --prune exits 0). */
  const applyPrune = async (text: string): Promise<Run> => {
    writeFileSync(file, `_format_version: "1"\n${text}`);
    const r = await aisix(['apply', '--prune', '-f', file, '--admin', p.adminUrl]);
    if (r.code === 0) {
      const d = await aisix(['diff', '--prune', '-f', file, '--admin', p.adminUrl]);
      assert.equal(d.code, 0, `diff after apply: ${d.out}${d.err}`);
    }
    return r;
  };
  const steps = (r: Run) =>
    r.out
      .split('\n')
      .filter((l) => /: (created|updated|deleted)/.test(l))
      .map((l) => l.replace(/ \(id [^)]+\)$/, ''));
  const byName = async (kind: string) =>
    Object.fromEntries(
      (await api.list(kind)).map((e) => [String(e.value.display_name ?? e.value.name), e.value]),
    );

  before(async () => {
    etcd = await testEtcd();
    p = await startAisix({ name: 'moves', dir, role: 'all', etcd });
    await waitStatus(p, `${p.adminUrl}/readyz`, 200);
    api = new AdminClient(p.adminUrl);
  });

  after(async () => {
    await p?.kill();
    removeDir(dir);
  });

  test('prune deletes a model whose target only a wildcard alias serves before that wildcard model', async () => {
    // The Admin API resolves an alias through a wildcard model (a file cannot: its aliases
    // are exact names). Ids chosen so that the list order (etcd key order) puts the routing
    // model first, as the dependency order by exact names alone would also do.
    const pk = await api.create('provider_keys', {
      display_name: 'pk',
      provider: 'openai',
      api_key: 'sk-wildcard-order-0000',
    });
    const put = (id: string, doc: Record<string, unknown>) =>
      etcdPutAt(etcd.endpoint, `${etcd.prefix}/models/${id}`, JSON.stringify(doc));
    await put('00000000-0000-4000-8000-000000000001', {
      display_name: 'smart',
      routing: { targets: [{ model: 'gpt-4o' }] },
    });
    await put('ffffffff-ffff-4fff-8fff-ffffffffffff', {
      display_name: 'gpt-*',
      provider: 'openai',
      model_name: 'gpt-*',
      provider_key_id: pk.id,
    });
    assert.deepEqual(
      (await api.list('models')).map((m) => m.value.display_name),
      ['smart', 'gpt-*'],
    );
    const r = await applyPrune('');
    assert.equal(r.code, 0, r.out + r.err);
    assert.deepEqual(steps(r), [
      '- delete models "smart": deleted',
      '- delete models "gpt-*": deleted',
      '- delete provider_keys "pk": deleted',
    ]);
  });

  test('a key rotated with a grace window outside Git: apply restores the file, previous keys included', async () => {
    const start = await applyPrune(`api_keys:\n${key('rotated', hex('7'))}`);
    assert.equal(start.code, 0, start.out + start.err);
    const [live] = await api.list('api_keys');
    const rotated = await api.raw('POST', `/api_keys/${live?.id}/rotate`, { grace_secs: 3600 });
    assert.equal(rotated.status, 200, rotated.body);
    // The file has no previous_keys: the plan removes the grace window, and apply must do so.
    writeFileSync(file, `_format_version: "1"\napi_keys:\n${key('rotated', hex('7'))}`);
    const plan = await aisix(['diff', '--prune', '-f', file, '--admin', p.adminUrl]);
    assert.equal(plan.code, 2, plan.err);
    assert.match(plan.out, /^ {4}previous_keys: .* -> \(unset\)$/m);
    const r = await applyPrune(`api_keys:\n${key('rotated', hex('7'))}`);
    assert.equal(r.code, 0, r.out + r.err);
    const [after] = await api.list('api_keys');
    assert.equal(after?.value.key_hash, hex('7'));
    assert.deepEqual(after?.value.previous_keys ?? [], [], 'the grace window is over');
  });

  test('a key_hash taken from a pruned key or from a key that changes its own', async () => {
    const start = await applyPrune(
      `api_keys:\n${key('old', hex('1'))}${key('keep', hex('2'))}${key('a', hex('a'))}${key('b', hex('b'))}`,
    );
    assert.equal(start.code, 0, start.out + start.err);
    // keep takes old's hash (old is pruned); b (listed first) takes a's, a gets a new one.
    const r = await applyPrune(
      `api_keys:\n${key('keep', hex('1'))}${key('b', hex('a'))}${key('a', hex('c'))}`,
    );
    assert.equal(r.code, 0, r.out + r.err);
    assert.deepEqual(steps(r), [
      '- delete api_keys "old": deleted',
      '~ update api_keys "keep": updated',
      '~ update api_keys "a": updated',
      '~ update api_keys "b": updated',
    ]);
    const keys = await byName('api_keys');
    assert.deepEqual(Object.keys(keys).sort(), ['a', 'b', 'keep']);
    assert.equal(keys.keep?.key_hash, hex('1'));
    assert.equal(keys.b?.key_hash, hex('a'));
    assert.equal(keys.a?.key_hash, hex('c'));
  });

  test('a (jwt_provider, jwt_subject) pair taken from a pruned key or from a key that drops it', async () => {
    const jwt = (s: string) => `, jwt_provider: idp, jwt_subject: ${s}`;
    const start = await applyPrune(
      `oidc_providers:\n${idp('idp', 'https://idp.example')}api_keys:\n${key('alice-old', hex('1'), jwt('alice'))}${key('bob-old', hex('2'), jwt('bob'))}${key('bob-new', hex('3'))}`,
    );
    assert.equal(start.code, 0, start.out + start.err);
    // alice-new (created) takes alice-old's pair (pruned); bob-new (listed first) takes
    // bob-old's pair, which bob-old drops.
    const r = await applyPrune(
      `oidc_providers:\n${idp('idp', 'https://idp.example')}api_keys:\n${key('bob-new', hex('3'), jwt('bob'))}${key('bob-old', hex('2'))}${key('alice-new', hex('4'), jwt('alice'))}`,
    );
    assert.equal(r.code, 0, r.out + r.err);
    assert.deepEqual(steps(r), [
      '~ update api_keys "bob-old": updated',
      '~ update api_keys "bob-new": updated',
      '- delete api_keys "alice-old": deleted',
      '+ create api_keys "alice-new": created',
    ]);
    const keys = await byName('api_keys');
    assert.equal(keys['alice-new']?.jwt_subject, 'alice');
    assert.equal(keys['bob-new']?.jwt_subject, 'bob');
    assert.equal(keys['bob-old']?.jwt_subject, undefined);
    assert.equal(keys['alice-old'], undefined);
  });

  test("an enabled OIDC provider's issuer taken from a pruned or disabled provider; referrers go first", async () => {
    const start = await applyPrune(
      `oidc_providers:\n${idp('old', 'https://a.example')}${idp('left', 'https://b.example')}api_keys:\n${key('via-old', hex('5'), ', jwt_provider: old, jwt_subject: x')}`,
    );
    assert.equal(start.code, 0, start.out + start.err);
    // new takes old's issuer: via-old (which names old) and old are deleted first.
    // right (listed first) takes left's issuer, which left gives up by being disabled.
    const r = await applyPrune(
      `oidc_providers:\n${idp('right', 'https://b.example')}${idp('left', 'https://b.example', ', enabled: false')}${idp('new', 'https://a.example')}`,
    );
    assert.equal(r.code, 0, r.out + r.err);
    assert.deepEqual(steps(r), [
      '~ update oidc_providers "left": updated',
      '+ create oidc_providers "right": created',
      '- delete api_keys "via-old": deleted',
      '- delete oidc_providers "old": deleted',
      '+ create oidc_providers "new": created',
    ]);
    const idps = await byName('oidc_providers');
    assert.deepEqual(Object.keys(idps).sort(), ['left', 'new', 'right']);
    assert.equal(idps.left?.enabled, false);
    assert.deepEqual(await api.list('api_keys'), []);
  });
  test('renaming an OIDC provider whose keys move with it: the two applies docs/gitops.md gives', async () => {
    const k = (provider: string) => key('k-idp', hex('8'), `, jwt_provider: ${provider}, jwt_subject: s`);
    const start = await applyPrune(`oidc_providers:\n${idp('p1', 'https://r.example')}api_keys:\n${k('p1')}`);
    assert.equal(start.code, 0, start.out + start.err);
    // In one apply the move is circular: it stops at the Admin API's 409, which names p1.
    const direct = await applyPrune(
      `oidc_providers:\n${idp('p2', 'https://r.example')}api_keys:\n${k('p2')}`,
    );
    assert.equal(direct.code, 1, direct.out + direct.err);
    assert.match(direct.err, /^error: \+ create oidc_providers "p2": POST \/oidc_providers → 409 .*"p1"/m);
    const first = await applyPrune(
      `oidc_providers:\n${idp('p2', 'https://r.example', ', enabled: false')}api_keys:\n${k('p2')}`,
    );
    assert.equal(first.code, 0, first.out + first.err);
    const second = await applyPrune(
      `oidc_providers:\n${idp('p2', 'https://r.example')}api_keys:\n${k('p2')}`,
    );
    assert.equal(second.code, 0, second.out + second.err);
    assert.deepEqual(Object.keys(await byName('oidc_providers')), ['p2']);
    assert.equal((await byName('api_keys'))['k-idp']?.jwt_provider, 'p2');
  });
});
