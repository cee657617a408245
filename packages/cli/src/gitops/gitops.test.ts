/**
 * The pure parts of `aisix export/diff/apply`: export → file → load round trip, plans
 * (matching, field changes, secrets compared by mask and never held), write order, and the
 * command lines. The commands against real clusters are e2e/src/gitops.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileResourceId, loadResourcesFile, maskSecret } from '@aisix/core';
import { parse } from 'yaml';
import { parseCommand } from '../args.js';
import type { LiveEntry } from './admin-client.js';
import { parseGitops } from './args.js';
import { exportResources } from './export.js';
import { buildPlan, type Plan } from './plan.js';
import { writeOrder } from './refs.js';
import { renderPlan } from './render.js';

const HASH = 'a'.repeat(64);
const SECRET = 'sk-upstream-0123456789';

/** A cluster as the Admin API shows it: random ids, masked secrets. */
function liveCluster(secret = SECRET): LiveEntry[] {
  return [
    {
      kind: 'provider_keys',
      id: 'pk-1',
      revision: 3,
      value: {
        display_name: 'openai-main',
        provider: 'openai',
        api_key: maskSecret(secret),
        request: { default_headers: { 'x-user': '$' + '{request.api_key.name}' } },
      },
    },
    {
      kind: 'models',
      id: 'm-route',
      revision: 5,
      value: { display_name: 'smart', routing: { targets: [{ model: 'chat' }] } },
    },
    {
      kind: 'models',
      id: 'm-chat',
      revision: 4,
      value: { display_name: 'chat', provider: 'openai', model_name: 'gpt', provider_key_id: 'pk-1' },
    },
    {
      kind: 'api_keys',
      id: 'k-1',
      revision: 6,
      value: { display_name: 'caller', key_hash: HASH, allowed_models: ['smart'] },
    },
    {
      kind: 'rate_limit_policies',
      id: 'rl-1',
      revision: 7,
      value: { name: 'chat-rpm', scope: 'model', scope_ref: 'm-chat', window: 'minute', max_requests: 10 },
    },
    {
      kind: 'rate_limit_policies',
      id: 'rl-2',
      revision: 7,
      value: {
        name: 'caller-cond',
        limits: { rpm: 5 },
        conditions: [{ logic: 'or', children: [{ dimension: 'api_key', operator: 'in', value: ['k-1'] }] }],
      },
    },
    { kind: 'cache_policies', id: 'c-1', revision: 8, value: { name: 'per-key', applies_to: 'api_key:k-1' } },
    { kind: 'guardrail_attachments', id: 'ga-1', revision: 9, value: {} },
  ];
}

function exported(live = liveCluster()) {
  const r = exportResources(live, { revealSecrets: false, source: 'test' });
  assert.ok(r.ok, JSON.stringify(r));
  return r;
}

function load(text: string, env: Record<string, string>) {
  const r = loadResourcesFile({ text, path: 'x.yaml', env });
  assert.ok(r.ok, r.ok ? '' : r.report);
  return r.entries;
}

function plan(text: string, env: Record<string, string>, live: LiveEntry[], prune = false): Plan {
  const r = buildPlan(load(text, env), live, { prune });
  assert.ok(r.ok, JSON.stringify(r));
  return r.plan;
}

describe('export', () => {
  test('a loadable file: names for references, placeholders for secrets, $ escaped, defaults left out', () => {
    const r = exported();
    assert.deepEqual(
      r.placeholders.map((p) => p.variable),
      ['PROVIDER_KEY_OPENAI_MAIN_API_KEY'],
    );
    assert.match(r.text, /provider_key: openai-main/);
    assert.match(r.text, /scope_ref: chat\n/);
    assert.match(r.text, /value:\n\s+- caller\n/, 'condition values name the api key');
    assert.match(r.text, /x-user: \$\$\{request\.api_key\.name\}/);
    assert.doesNotMatch(r.text, /telemetry_tags|strip_headers|pk-1|m-chat/);
    assert.ok(r.notes.some((n) => n.includes('1 guardrail_attachments not exported')));

    const entries = load(r.text, { PROVIDER_KEY_OPENAI_MAIN_API_KEY: SECRET });
    const pk = entries.find((e) => e.kind === 'provider_keys');
    assert.equal(pk?.value.api_key, SECRET);
    assert.deepEqual(pk?.value.request, { default_headers: { 'x-user': '$' + '{request.api_key.name}' } });
    const chat = entries.find((e) => e.kind === 'models' && e.value.display_name === 'chat');
    assert.equal(chat?.value.provider_key_id, fileResourceId('provider_keys', 'openai-main'));
    const cache = entries.find((e) => e.kind === 'cache_policies');
    assert.equal(cache?.value.applies_to, `api_key:${fileResourceId('api_keys', 'caller')}`);
  });

  test('an api key without display_name gets one made from its id', () => {
    const live = liveCluster().map((e) =>
      e.kind === 'api_keys' ? { ...e, value: { key_hash: HASH, allowed_models: [] } } : e,
    );
    const r = exported(live);
    assert.ok(r.notes.some((n) => n === 'api_keys/k-1 has no display_name: exported as "api-key-k-1"'));
    assert.match(r.text, /display_name: api-key-k-1/);
  });

  test('a reference to nothing is an error, not a file that fails to load', () => {
    const live = liveCluster().filter((e) => e.kind !== 'provider_keys');
    const r = exportResources(live, { revealSecrets: false, source: 'test' });
    assert.ok(!r.ok);
    assert.deepEqual(r.errors, ['models "chat": references provider_keys id "pk-1", which does not exist']);
  });

  test('a document with unknown fields exports as the gateway serves it; the note names the fields, not values', () => {
    const live = liveCluster().map((e) =>
      e.id === 'm-chat'
        ? { ...e, value: { ...e.value, bogus: 'bogus-value-1', routing_hint: { deep: 2 } } }
        : e,
    );
    const r = exported(live);
    assert.doesNotMatch(r.text, /bogus|routing_hint|deep/);
    assert.deepEqual(
      r.notes.filter((n) => n.startsWith('models/')),
      ['models/m-chat: left out 2 field(s) the gateway ignores (unknown): bogus, routing_hint'],
    );
    assert.deepEqual(r.skipped, []);
    const entries = load(r.text, { PROVIDER_KEY_OPENAI_MAIN_API_KEY: SECRET });
    assert.equal(entries.find((e) => e.value.display_name === 'chat')?.value.model_name, 'gpt');
  });

  test('a document the gateway rejects is skipped with a note; the rest exports', () => {
    const live = liveCluster();
    live.push({
      kind: 'models',
      id: 'm-red',
      revision: 1,
      value: { display_name: 'm5', provider: 'openai' },
    });
    const r = exported(live);
    assert.deepEqual(r.skipped, [
      'skipped models/m-red: the gateway rejects it (schema_failed): schema validation failed at : a direct model requires "model_name", "provider_key_id" (or one of routing, ensemble, semantic)',
    ]);
    assert.doesNotMatch(r.text, /m5/);
    assert.equal(r.count, 7);
  });

  test('a reference to a skipped document is an error that names the skipped document', () => {
    const live = liveCluster().map((e) =>
      e.id === 'pk-1' ? { ...e, value: { display_name: 'openai-main', provider: 7, api_key: 'x' } } : e,
    );
    const r = exportResources(live, { revealSecrets: false, source: 'test' });
    assert.ok(!r.ok);
    assert.equal(r.errors.length, 1);
    assert.match(
      r.errors[0] ?? '',
      /^models "chat": references provider_keys\/pk-1, which is skipped \(the gateway rejects it \(schema_failed\): schema validation failed at \/provider: invalid type: expected string\)/,
    );
  });

  test('a reference to a document the source left out (not JSON, not listed) names it too', () => {
    const live = liveCluster().filter((e) => e.kind !== 'provider_keys');
    const skippedBefore = new Map([['provider_keys/pk-1', 'the value is not JSON']]);
    const r = exportResources(live, { revealSecrets: false, source: 'test', skippedBefore });
    assert.ok(!r.ok);
    assert.deepEqual(r.errors, [
      'models "chat": references provider_keys/pk-1, which is skipped (the value is not JSON): fix or delete that document, or this reference',
    ]);
  });

  test('api keys sharing a display_name get unique names, whatever the input order', () => {
    const key = (id: string, hash: string): LiveEntry => ({
      kind: 'api_keys',
      id,
      revision: 1,
      value: { display_name: 'dupe', key_hash: hash.repeat(64), allowed_models: [] },
    });
    const live = [...liveCluster(), key('bbbbbbbb-2', 'b'), key('aaaaaaaa-1', 'c')];
    const r = exported(live);
    assert.deepEqual(r.notes.filter((n) => n.includes('dupe')).sort(), [
      'api_keys/aaaaaaaa-1 shares its display_name "dupe" with 1 other api key(s): exported as "dupe-aaaaaaaa"',
      'api_keys/bbbbbbbb-2 shares its display_name "dupe" with 1 other api key(s): exported as "dupe-bbbbbbbb"',
    ]);
    const names = load(r.text, { PROVIDER_KEY_OPENAI_MAIN_API_KEY: SECRET })
      .filter((e) => e.kind === 'api_keys')
      .map((e) => e.value.display_name);
    assert.deepEqual(names, ['caller', 'dupe-aaaaaaaa', 'dupe-bbbbbbbb']);
    assert.equal(exported(live.reverse()).text, r.text, 'deterministic');
  });

  test('--reveal-secrets writes the stored secret (escaped like every value)', () => {
    const live = liveCluster();
    const pk = live[0] as LiveEntry;
    live[0] = { ...pk, value: { ...pk.value, api_key: 'sk-with-$-sign-000' } };
    const r = exportResources(live, { revealSecrets: true, source: 'etcd' });
    assert.ok(r.ok);
    assert.equal(r.placeholders.length, 0);
    assert.equal(
      load(r.text, {}).find((e) => e.kind === 'provider_keys')?.value.api_key,
      'sk-with-$-sign-000',
    );
  });
});

describe('plan', () => {
  const env = { PROVIDER_KEY_OPENAI_MAIN_API_KEY: SECRET };

  test('export then plan against the same cluster: nothing to do', () => {
    const live = liveCluster();
    const p = plan(exported(live).text, env, live);
    assert.deepEqual(p.steps, []);
    assert.equal(p.unchanged, 7);
  });

  test('a field change is one update with one field; a new secret is a change that holds no secret', () => {
    const live = liveCluster();
    const text = exported(live).text.replace('model_name: gpt', 'model_name: gpt-2');
    const newSecret = 'sk-rotated-99999999';
    const p = plan(text, { PROVIDER_KEY_OPENAI_MAIN_API_KEY: newSecret }, live);
    assert.deepEqual(
      p.steps.map((s) => [s.op, s.kind, s.identity, s.op === 'update' ? s.changes : undefined]),
      [
        ['update', 'provider_keys', 'openai-main', [{ path: 'api_key', type: 'secret', change: 'changed' }]],
        [
          'update',
          'models',
          'chat',
          [{ path: 'model_name', type: 'changed', before: 'gpt', after: 'gpt-2' }],
        ],
      ],
    );
    const shown = renderPlan(p, 'B').join('\n');
    assert.ok(!shown.includes(newSecret) && !shown.includes(maskSecret(newSecret)));
    const changes = JSON.stringify(p.steps.map((s) => (s.op === 'update' ? s.changes : [])));
    assert.ok(!changes.includes(newSecret.slice(-4)), 'not even the mask is kept in a change');
  });

  test('a whole map of secrets added or removed: one secret change per entry, neither value nor mask shown', () => {
    const exporter = (headers?: Record<string, string>): LiveEntry => ({
      kind: 'observability_exporters',
      id: 'ex-1',
      revision: 2,
      value: {
        name: 'otel',
        kind: 'otlp_http',
        endpoint: 'https://otel.example/v1/traces',
        ...(headers ? { headers } : {}),
      },
    });
    const token = 'Bearer tok-9876-wxyz';
    const file = (headers: string) =>
      `_format_version: "1"\nobservability_exporters:\n  - { name: otel, kind: otlp_http, endpoint: "https://otel.example/v1/traces"${headers} }\n`;
    const added = plan(
      file(', headers: { authorization: "$' + '{OTEL_AUTH}", x-tenant: t-1 }'),
      { OTEL_AUTH: token },
      [exporter()],
    );
    assert.deepEqual(added.steps.length, 1);
    const step = added.steps[0];
    assert.deepEqual(step?.op === 'update' ? step.changes : undefined, [
      { path: 'headers.authorization', type: 'secret', change: 'set' },
      { path: 'headers.x-tenant', type: 'secret', change: 'set' },
    ]);
    const removed = plan(file(''), {}, [
      exporter({ authorization: maskSecret(token), 'x-tenant': maskSecret('t-1') }),
    ]);
    const gone = removed.steps[0];
    assert.deepEqual(gone?.op === 'update' ? gone.changes : undefined, [
      { path: 'headers.authorization', type: 'secret', change: 'removed' },
      { path: 'headers.x-tenant', type: 'secret', change: 'removed' },
    ]);
    for (const p of [added, removed]) {
      const shown = renderPlan(p, 'B').join('\n');
      assert.ok(!shown.includes('wxyz') && !shown.includes('****') && !shown.includes('\u0000'), shown);
    }
  });

  test('creates come in dependency order; prune deletes in reverse; without prune extras are listed', () => {
    const text = exported().text;
    const fresh = plan(text, env, []);
    assert.deepEqual(
      fresh.steps.map((s) => `${s.op} ${s.kind} ${s.identity}`),
      [
        'create provider_keys openai-main',
        'create models chat',
        'create models smart',
        'create api_keys caller',
        'create cache_policies per-key',
        'create rate_limit_policies caller-cond',
        'create rate_limit_policies chat-rpm',
      ],
    );
    const shown = renderPlan(fresh, 'B');
    assert.deepEqual(shown.slice(0, 6), [
      '+ create provider_keys "openai-main"',
      '    display_name: "openai-main"',
      '    api_key: (secret) will be set',
      '    provider: "openai"',
      '    request.default_headers: {"x-user":"$' + '{request.api_key.name}"}',
      '+ create models "chat"',
    ]);
    assert.ok(shown.includes('    provider_key_id: provider_keys "openai-main"'), shown.join('\n'));
    assert.ok(!shown.join('\n').includes(SECRET.slice(-4)));
    const empty = '_format_version: "1"\n';
    const kept = plan(empty, {}, liveCluster());
    assert.deepEqual(kept.steps, []);
    assert.equal(kept.unmanaged.length, 7);
    const pruned = plan(empty, {}, liveCluster(), true);
    assert.deepEqual(
      pruned.steps.map((s) => `${s.op} ${s.kind} ${s.identity}`),
      [
        'delete rate_limit_policies caller-cond',
        'delete rate_limit_policies chat-rpm',
        'delete cache_policies per-key',
        'delete api_keys caller',
        'delete models smart',
        'delete models chat',
        'delete provider_keys openai-main',
      ],
    );
  });

  test('an api key without a matching display_name matches by key_hash; the name is an update', () => {
    const live = liveCluster();
    // (The cache policy names the key by its derived id, which a rename changes: left out.)
    const text = exported(live)
      .text.replace('display_name: caller', 'display_name: ci')
      .replace('- caller\n', '- ci\n')
      .replace(/cache_policies:\n(?: {2}.*\n| {4}.*\n)+/, '');
    const p = plan(text, env, live);
    assert.deepEqual(
      p.steps.map((s) => [s.op, s.identity, s.op === 'update' ? s.changes : undefined]),
      [['update', 'ci', [{ path: 'display_name', type: 'changed', before: 'caller', after: 'ci' }]]],
    );
  });

  test('a live key named like another file entry is not taken by hash; updates free hashes before creates', () => {
    const live: LiveEntry[] = [
      {
        kind: 'api_keys',
        id: 'k-b',
        revision: 1,
        value: { display_name: 'b', key_hash: HASH, allowed_models: [] },
      },
    ];
    const text = `_format_version: "1"\napi_keys:\n  - {display_name: a, key_hash: "${HASH}", allowed_models: []}\n  - {display_name: b, key_hash: "${'b'.repeat(64)}", allowed_models: []}\n`;
    const p = plan(text, {}, live);
    assert.deepEqual(
      p.steps.map((s) => `${s.op} ${s.identity}`),
      ['update b', 'create a'],
    );
  });

  test('a unique value taken from a pruned entry: the delete, and its referrers first, run before the take', () => {
    const idp = { name: 'idp', issuer: 'https://idp.example', audiences: ['aisix'], enabled: true };
    const live: LiveEntry[] = [
      { kind: 'oidc_providers', id: 'o-1', revision: 1, value: idp },
      {
        kind: 'api_keys',
        id: 'k-old',
        revision: 1,
        value: {
          display_name: 'old',
          key_hash: HASH,
          allowed_models: [],
          jwt_provider: 'idp',
          jwt_subject: 'alice',
        },
      },
      {
        kind: 'api_keys',
        id: 'k-other',
        revision: 1,
        value: { display_name: 'other', key_hash: 'b'.repeat(64), allowed_models: [] },
      },
      { kind: 'cache_policies', id: 'c-1', revision: 1, value: { name: 'c', applies_to: 'api_key:k-old' } },
      {
        kind: 'rate_limit_policies',
        id: 'rl-1',
        revision: 1,
        value: { name: 'rl', scope: 'api_key', scope_ref: 'k-old', window: 'minute', max_requests: 5 },
      },
    ];
    const text = `_format_version: "1"
oidc_providers:
  - { name: idp, issuer: "https://idp.example", audiences: [aisix] }
api_keys:
  - { display_name: new, key_hash: "${'c'.repeat(64)}", allowed_models: [], jwt_provider: idp, jwt_subject: alice }
  - { display_name: other, key_hash: "${'b'.repeat(64)}", allowed_models: [] }
rate_limit_policies:
  - { name: rl, scope: api_key, scope_ref: other, window: minute, max_requests: 5 }
`;
    assert.deepEqual(
      plan(text, {}, live, true).steps.map((s) => `${s.op} ${s.kind} ${s.identity}`),
      [
        'update rate_limit_policies rl',
        'delete cache_policies c',
        'delete api_keys old',
        'create api_keys new',
      ],
    );
  });

  test('an issuer move that a reference makes circular keeps the dependency order', () => {
    // Renaming an OIDC provider and moving its key: p2 needs p1's issuer freed, p1's delete
    // needs the key moved off it, and the key's update needs p2. The base order stands (the
    // Admin API's 409 at the create names p1); docs/gitops.md says how to do it in two applies.
    const live: LiveEntry[] = [
      {
        kind: 'oidc_providers',
        id: 'o-1',
        revision: 1,
        value: { name: 'p1', issuer: 'https://idp.example', audiences: ['aisix'], enabled: true },
      },
      {
        kind: 'api_keys',
        id: 'k-1',
        revision: 1,
        value: {
          display_name: 'k',
          key_hash: HASH,
          allowed_models: [],
          jwt_provider: 'p1',
          jwt_subject: 's',
        },
      },
    ];
    const text = `_format_version: "1"
oidc_providers:
  - { name: p2, issuer: "https://idp.example", audiences: [aisix] }
api_keys:
  - { display_name: k, key_hash: "${HASH}", allowed_models: [], jwt_provider: p2, jwt_subject: s }
`;
    assert.deepEqual(
      plan(text, {}, live, true).steps.map((s) => `${s.op} ${s.kind} ${s.identity}`),
      ['create oidc_providers p2', 'update api_keys k', 'delete oidc_providers p1'],
    );
  });

  test('a grace window the file does not have: the update ends it with previous_keys: []; [] is no window', () => {
    const k = (previous?: unknown[]): LiveEntry => ({
      kind: 'api_keys',
      id: 'k-1',
      revision: 2,
      value: {
        display_name: 'k',
        key_hash: HASH,
        allowed_models: [],
        ...(previous ? { previous_keys: previous } : {}),
      },
    });
    const text = `_format_version: "1"\napi_keys:\n  - { display_name: k, key_hash: "${HASH}", allowed_models: [] }\n`;
    const window = [{ key_hash: 'b'.repeat(64), expires_at: '2030-01-01T00:00:00Z' }];
    const [step] = plan(text, {}, [k(window)]).steps;
    assert.equal(step?.op, 'update');
    assert.deepEqual(step?.op === 'update' ? [step.changes, step.doc.previous_keys] : undefined, [
      [{ path: 'previous_keys', type: 'removed', before: window }],
      [],
    ]);
    assert.deepEqual(plan(text, {}, [k([])]).steps, []);
    const exportedKey = exportResources([k([])], { revealSecrets: false, source: 'test' });
    assert.ok(exportedKey.ok);
    assert.doesNotMatch(exportedKey.text, /previous_keys/, 'an ended window is not written either');
  });

  test('two live entries with the identity the file names: refused, nothing planned', () => {
    const live = liveCluster();
    live.push({
      kind: 'api_keys',
      id: 'k-2',
      revision: 1,
      value: { key_hash: 'b'.repeat(64), allowed_models: [], display_name: 'x' },
    });
    live.push({
      kind: 'api_keys',
      id: 'k-3',
      revision: 1,
      value: { key_hash: 'c'.repeat(64), allowed_models: [], display_name: 'x' },
    });
    const text = `_format_version: "1"\napi_keys:\n  - display_name: x\n    key_hash: ${'d'.repeat(64)}\n    allowed_models: []\n`;
    const r = buildPlan(load(text, {}), live, { prune: false });
    assert.ok(!r.ok);
    assert.match(r.errors[0] ?? '', /api_keys "x": 2 live entries have this identity \(ids k-2, k-3\)/);
  });
});

test('writeOrder: a model after the models it names, whatever the input order', () => {
  const m = (identity: string, doc: Record<string, unknown>) => ({
    kind: 'models' as const,
    identity,
    id: identity,
    doc,
  });
  const order = writeOrder([
    m('top', { routing: { targets: [{ model: 'mid' }] } }),
    m('mid', { ensemble: { panel: [{ model: 'leaf' }], judge: { model: 'leaf' } } }),
    m('leaf', { provider_key_id: 'pk' }),
    { kind: 'provider_keys' as const, identity: 'pk', id: 'pk', doc: {} },
  ]);
  assert.deepEqual(
    order.map((o) => o.identity),
    ['pk', 'leaf', 'mid', 'top'],
  );
});

test('command lines: sources, required flags, exit codes of usage errors', () => {
  const env = { AISIX_ADMIN_KEY: 'k' };
  assert.deepEqual(parseGitops('export', ['--etcd', 'http://e:2379,http://f:2379', '--prefix', '/p/'], {}), {
    cmd: 'export',
    from: { etcd: ['http://e:2379', 'http://f:2379'], prefix: '/p', revealSecrets: false },
    output: undefined,
  });
  assert.equal(parseGitops('export', ['--admin', 'http://a'], env).cmd, 'export');
  const usage = (sub: string, argv: string[], e: NodeJS.ProcessEnv = env) => {
    const r = parseGitops(sub, argv, e);
    return r.cmd === 'usage' ? [r.code, r.message] : r.cmd;
  };
  assert.deepEqual(usage('export', ['--admin', 'http://a'], {}), [
    2,
    'the admin key is missing: set AISIX_ADMIN_KEY (or --admin-key)',
  ]);
  assert.deepEqual(usage('export', ['--admin', 'http://a', '--reveal-secrets']), [
    2,
    '--prefix and --reveal-secrets go with --etcd (the Admin API never returns secrets)',
  ]);
  // An endpoint without a scheme is a usage error naming the flag, not an internal failure.
  assert.deepEqual(usage('export', ['--etcd', '127.0.0.1:2379']), [
    2,
    '--etcd 127.0.0.1:2379: an etcd endpoint is a URL such as http://127.0.0.1:2379',
  ]);
  assert.deepEqual(usage('export', ['--etcd', ' , ']), [
    2,
    '--etcd needs at least one URL such as http://127.0.0.1:2379',
  ]);
  assert.deepEqual(usage('diff', ['-f', 'x.yaml']), [1, 'diff needs --admin <admin API URL>']);
  assert.deepEqual(usage('diff', ['-f', 'x', '--admin', 'http://a', '--dry-run']), [
    1,
    '--dry-run is not an option of `diff`',
  ]);
  assert.deepEqual(usage('apply', ['--admin', 'http://a']), [2, 'apply needs -f <resources file>']);
  const apply = parseGitops('apply', ['-f', 'x', '--admin', 'http://a', '--prune', '--dry-run'], env);
  assert.deepEqual(apply, {
    cmd: 'apply',
    file: 'x',
    admin: 'http://a',
    adminKey: 'k',
    prune: true,
    dryRun: true,
  });
});

test('the sample CI workflow runs commands this CLI accepts', () => {
  const root = new URL('../../../../../', import.meta.url).pathname;
  const text = readFileSync(join(root, 'deploy/gitops/github-actions.yml'), 'utf8');
  const workflow = parse(text) as { jobs: Record<string, { steps: { run?: string }[] }> };
  const commands: string[] = [];
  for (const job of Object.values(workflow.jobs)) {
    for (const step of job.steps) {
      for (const line of (step.run ?? '').split('\n')) {
        const m = /\$AISIX (.+?)(?: \||$)/.exec(line);
        if (m?.[1] === undefined) continue;
        const argv = m[1].replaceAll('"$AISIX_ADMIN_URL"', 'http://admin:3001').split(/\s+/);
        const c = parseCommand(argv, { AISIX_ADMIN_KEY: 'k' });
        assert.ok(c.cmd !== 'usage', `${line}: ${c.cmd === 'usage' ? c.message : ''}`);
        commands.push(c.cmd);
      }
    }
  }
  assert.deepEqual(commands.sort(), ['apply', 'diff', 'diff', 'diff', 'validate']);
});
