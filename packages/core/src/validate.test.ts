import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KIND_NAMES, KINDS, kindByAdminPath, kindByName } from './kinds.js';
import { parseRead, parseServed, validateWrite } from './validate.js';

const SECRET = 'sk-THIS-MUST-NEVER-LEAK-42';

describe('messages never echo submitted values', () => {
  const cases: [string, unknown][] = [
    ['provider_keys', { display_name: SECRET, api_key: 7 }],
    ['provider_keys', { display_name: 'p', api_key: SECRET, secret: SECRET }],
    ['provider_keys', { display_name: 'p', api_key: SECRET, adapter: SECRET }],
    ['models', { display_name: 'm', provider: SECRET, model_name: 'x', provider_key_id: 'y' }],
    ['guardrails', { name: 'g', kind: SECRET }],
    ['guardrails', { name: 'g', kind: 'lakera', api_key: [SECRET] }],
    ['mcp_servers', { name: 'm', url: 'u', auth_type: SECRET, secret: SECRET }],
    // A stored key_hash need only be non-empty (read); a wrong type fails both ways.
    ['api_keys', { key_hash: SECRET, allowed_models: [] }],
    ['api_keys', { key_hash: SECRET, allowed_models: SECRET }],
    ['observability_exporters', { name: 'e', kind: 'otlp_http', endpoint: `http://${SECRET}.example` }],
    [
      'rate_limit_policies',
      {
        name: 'c',
        limits: { rpm: 1 },
        conditions: [{ dimension: 'model_name', operator: '~~', value: `(${SECRET}` }],
      },
    ],
  ];
  for (const [kind, doc] of cases) {
    test(`${kind}: ${JSON.stringify(doc).slice(0, 60)}`, () => {
      const w = validateWrite(kind as (typeof KIND_NAMES)[number], doc);
      assert.ok(!w.ok);
      assert.ok(!w.message.includes(SECRET), w.message);
      assert.ok(!w.message.includes('LEAK'), w.message);
      const r = parseRead(kind as (typeof KIND_NAMES)[number], doc);
      if (!r.ok) assert.ok(!r.message.includes('LEAK'), r.message);
      // Read accepts any non-empty key_hash (control-plane §3.3); everything else fails both ways.
      else assert.deepEqual([kind, (doc as { allowed_models?: unknown }).allowed_models], ['api_keys', []]);
    });
  }
});

describe('validateWrite', () => {
  test('schema messages follow "schema validation failed at <pointer>: ..."', () => {
    const r = validateWrite('models', {
      display_name: '',
      provider: 'openai',
      model_name: 'm',
      provider_key_id: 'p',
    });
    assert.deepEqual(
      r.ok ? null : [r.pointer, r.message.startsWith('schema validation failed at /display_name: ')],
      ['/display_name', true],
    );
  });
  test('only the first failing location is reported', () => {
    const r = validateWrite('models', { display_name: 5, provider: 6, model_name: 7, provider_key_id: 8 });
    assert.ok(!r.ok);
    assert.equal(r.pointer, '/display_name');
    assert.ok(!r.message.includes('/provider'));
  });
  test('JSON pointer escapes ~ and /', () => {
    const r = validateWrite('api_keys', {
      key_hash: '91ed2dbc407561556f3e7be98ba0bd2a57986d6a868c482d867d19c6d40d201c',
      allowed_models: [],
      mcp_rate_limits: { 'a/b~c': { rpm: -1 } },
    });
    assert.ok(!r.ok);
    assert.equal(r.pointer, '/mcp_rate_limits/a~1b~0c/rpm');
  });
  test('typed-decode failures use "malformed <Type> payload"', () => {
    const r = validateWrite('provider_keys', { display_name: 'p', api_key: 'a', secret: 'b' });
    assert.ok(!r.ok);
    assert.match(r.message, /^malformed ProviderKey payload: /);
  });
  test('accepts a KindDef as well as a kind name', () => {
    const def = kindByName('mcp_policies');
    assert.ok(def);
    assert.ok(validateWrite(def, { mode: 'all', scope: 'env' }).ok);
  });
  test('the stored value is a fresh object (input not mutated)', () => {
    const input = { display_name: 'p', secret: 'sk-aaaaaaaaaaaa', provider: 'openai' };
    const r = validateWrite('provider_keys', input);
    assert.ok(r.ok);
    assert.deepEqual(input, { display_name: 'p', secret: 'sk-aaaaaaaaaaaa', provider: 'openai' });
  });
  test('non-finite numbers (JSON 1e400, YAML .inf) are refused where any number is allowed', () => {
    for (const n of [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN]) {
      const pk = validateWrite('provider_keys', {
        display_name: 'p',
        api_key: 'k',
        provider: 'openai',
        request: { param_constraints: { temperature_min: 0, temperature_max: n } },
      });
      assert.deepEqual(
        pk.ok
          ? null
          : [pk.pointer, /: (must be a finite number|invalid type: expected number)$/.test(pk.message)],
        ['/request/param_constraints/temperature_max', true],
      );
      for (const mode of ['write', 'read'] as const) {
        const doc = {
          display_name: 'e',
          ensemble: { panel: [{ model: 'a', weight: n }], judge: { model: 'j' } },
        };
        const r = mode === 'write' ? validateWrite('models', doc) : parseRead('models', doc);
        assert.ok(!r.ok, `${mode} ${n}`);
        assert.match(r.message, /^schema validation failed at \/ensemble\/panel\/0\/weight: /);
      }
    }
    assert.ok(
      validateWrite('provider_keys', {
        display_name: 'p',
        api_key: 'k',
        provider: 'openai',
        request: { param_constraints: { temperature_min: -1.5, temperature_max: 1e308 } },
      }).ok,
    );
  });
  test('defaults are not shared between parses', () => {
    const a = validateWrite('provider_keys', { display_name: 'a', api_key: 'k', provider: 'openai' });
    const b = validateWrite('provider_keys', { display_name: 'b', api_key: 'k', provider: 'openai' });
    assert.ok(a.ok && b.ok);
    assert.notEqual(a.value.strip_headers, b.value.strip_headers);
    assert.notEqual(a.value.telemetry_tags, b.value.telemetry_tags);
  });
});

describe('parseRead', () => {
  test('fills defaults like the write path', () => {
    const r = parseRead('cache_policies', { name: 'c' });
    assert.ok(r.ok);
    assert.equal(r.value.ttl_seconds, 3600);
    assert.deepEqual(r.unknownFields, []);
  });
  test('unknown fields are kept in the value and listed once per path', () => {
    const r = parseRead('models', {
      display_name: 'g',
      future: { x: 1 },
      routing: {
        targets: [
          { model: 'a', hint: 1 },
          { model: 'b', hint: 2 },
        ],
        policy: 'x',
      },
    });
    assert.ok(r.ok);
    assert.deepEqual(r.value.future, { x: 1 });
    assert.deepEqual([...r.unknownFields].sort(), ['future', 'routing.policy', 'routing.targets[].hint']);
  });
  test('parseServed: the same read without the unknown fields, which it lists', () => {
    const doc = {
      display_name: 'g',
      future: { x: 1 },
      routing: { targets: [{ model: 'a', hint: 1 }, { model: 'b' }], policy: 'x' },
    };
    const r = parseServed('models', doc);
    assert.ok(r.ok);
    const clean = parseRead('models', {
      display_name: 'g',
      routing: { targets: [{ model: 'a' }, { model: 'b' }] },
    });
    assert.ok(clean.ok);
    assert.deepEqual(r.value, clean.value, 'defaults filled as by parseRead, unknown fields gone');
    assert.deepEqual([...r.unknownFields].sort(), ['future', 'routing.policy', 'routing.targets[].hint']);
    assert.ok(validateWrite('models', r.value).ok, 'what is served passes the strict write schema');
    assert.deepEqual(doc.routing.targets[0], { model: 'a', hint: 1 }, 'the input is not changed');
  });
  test('unknown fields survive alias normalisation', () => {
    const r = parseRead('a2a_agents', { display_name: 'a', url: 'u', skills: [] });
    assert.ok(r.ok);
    assert.equal(r.value.name, 'a');
    assert.deepEqual(r.unknownFields, ['skills']);
  });
  test('types, required fields, ranges and enums are still enforced', () => {
    for (const doc of [
      { name: 'c', ttl_seconds: 'long' },
      { ttl_seconds: 5 },
      { name: 'c', ttl_seconds: 0 },
      { name: 'c', backend: 'disk' },
    ]) {
      const r = parseRead('cache_policies', doc);
      assert.ok(!r.ok, JSON.stringify(doc));
      assert.equal(r.errorKind, 'schema_failed');
    }
  });
  test('rate-limit semantic failures are RED like schema failures', () => {
    const r = parseRead('rate_limit_policies', {
      name: 'c',
      limits: { rpm: 1 },
      conditions: [{ dimension: 'team', operator: 'ipmatch', value: '10.0.0.0/8' }],
    });
    assert.ok(!r.ok);
    assert.equal(r.errorKind, 'schema_failed');
  });
  test('kind rules are parse failures', () => {
    const r = parseRead('mcp_servers', { name: 'a__b', url: 'u' });
    assert.ok(!r.ok);
    assert.equal(r.errorKind, 'parse_failed');
  });
});

describe('kinds table', () => {
  test('twelve kinds; segment and admin path equal the kind name', () => {
    assert.equal(KINDS.length, 12);
    assert.deepEqual([...KIND_NAMES].sort(), [
      'a2a_agents',
      'api_keys',
      'cache_policies',
      'guardrail_attachments',
      'guardrails',
      'mcp_policies',
      'mcp_servers',
      'models',
      'observability_exporters',
      'oidc_providers',
      'provider_keys',
      'rate_limit_policies',
    ]);
    for (const k of KINDS) {
      assert.equal(k.adminPath, k.kind);
      assert.equal(kindByAdminPath(k.kind), k);
    }
  });
  test('apikeys is an admin alias of api_keys', () => {
    assert.equal(kindByAdminPath('apikeys')?.kind, 'api_keys');
    assert.equal(kindByName('apikeys'), undefined);
  });
  test('file collections: none for guardrail_attachments and mcp_policies', () => {
    const noFile = KINDS.filter((k) => k.fileCollection === null).map((k) => k.kind);
    assert.deepEqual(noFile.sort(), ['guardrail_attachments', 'mcp_policies']);
    for (const k of KINDS) if (k.fileCollection !== null) assert.equal(k.fileCollection, k.kind);
  });
  test('name fields', () => {
    const names = Object.fromEntries(KINDS.map((k) => [k.kind, k.nameField]));
    assert.deepEqual(names, {
      models: 'display_name',
      provider_keys: 'display_name',
      api_keys: 'key_hash',
      guardrails: 'name',
      guardrail_attachments: null,
      cache_policies: 'name',
      observability_exporters: 'name',
      rate_limit_policies: 'name',
      mcp_servers: 'name',
      mcp_policies: null,
      a2a_agents: 'name',
      oidc_providers: 'name',
    });
  });
  test('secret paths cover the credential-bearing kinds', () => {
    assert.ok(kindByName('provider_keys')?.secretPaths.includes('api_key'));
    assert.ok(kindByName('mcp_servers')?.secretPaths.includes('secret'));
    assert.ok(kindByName('a2a_agents')?.secretPaths.includes('secret'));
    assert.ok(kindByName('guardrails')?.secretPaths.includes('aws_credentials.secret_access_key'));
  });
});
