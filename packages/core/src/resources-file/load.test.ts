// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${VAR}` here is file text under test.
/** The whole resources-file pipeline with the real write schemas: format, ids, sugar,
 * validation, cross-checks and the aggregated report. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadResourcesFile } from './index.js';
import { fileResourceId } from './uuid.js';

const ENV = { UPSTREAM_KEY: 'sk-up', APP_CALLER_KEY: 'sk-my-api-key-123' };
const EXAMPLE = `_format_version: "1"
provider_keys: [{display_name: oa, api_key: "\${UPSTREAM_KEY}", provider: openai}]
models: [{display_name: chat, provider: openai, model_name: gpt-4o-mini, provider_key: oa}]
api_keys: [{display_name: app, key_env: APP_CALLER_KEY, allowed_models: [chat]}]
`;

function load(text: string, env: Record<string, string | undefined> = ENV) {
  return loadResourcesFile({ text, path: 'resources.yaml', env });
}

function errors(text: string, env: Record<string, string | undefined> = ENV): string[] {
  const r = load(text, env);
  if (r.ok) assert.fail('expected the file to be rejected');
  return r.errors;
}

function oneError(text: string, env: Record<string, string | undefined> = ENV): string {
  const e = errors(text, env);
  assert.equal(e.length, 1, `expected one error, got ${JSON.stringify(e)}`);
  return e[0] ?? '';
}

const withExample = (more: string) => `${EXAMPLE}${more}\n`;

describe('the minimal example', () => {
  it('loads into canonical documents with derived ids', () => {
    const r = load(EXAMPLE);
    if (!r.ok) assert.fail(r.report);
    assert.deepEqual(
      r.entries.map((e) => [e.kind, e.id]),
      [
        ['provider_keys', fileResourceId('provider_keys', 'oa')],
        ['models', fileResourceId('models', 'chat')],
        ['api_keys', fileResourceId('api_keys', 'app')],
      ],
    );
    const [pk, model, key] = r.entries;
    assert.equal(pk?.value.api_key, 'sk-up');
    assert.equal(model?.value.provider_key_id, fileResourceId('provider_keys', 'oa'));
    assert.equal('provider_key' in (model?.value ?? {}), false);
    assert.equal(key?.value.key_hash, '91ed2dbc407561556f3e7be98ba0bd2a57986d6a868c482d867d19c6d40d201c');
    assert.equal('key_env' in (key?.value ?? {}), false);
    assert.equal(key?.value.display_name, 'app', 'file mode keeps the api-key display_name');
  });

  it('ids are stable across loads', () => {
    const a = load(EXAMPLE);
    const b = load(EXAMPLE);
    assert.ok(a.ok && b.ok);
    assert.deepEqual(
      a.entries.map((e) => e.id),
      b.entries.map((e) => e.id),
    );
  });
});

describe('format', () => {
  it('reports with the documented header and bullet lines', () => {
    const r = load('_format_version: "1"\nfoo: 1\nbar: 2\n');
    assert.equal(r.ok, false);
    assert.equal(
      r.ok ? '' : r.report,
      'resources file resources.yaml: 2 error(s):\n  - (file): unknown top-level key "foo"\n  - (file): unknown top-level key "bar"',
    );
  });
  it('_format_version must be the string "1"', () => {
    assert.match(oneError('models: []'), /^\(file\): _format_version is required/);
    assert.match(oneError('_format_version: 1'), /^\(file\): _format_version must be the string "1"/);
    assert.match(oneError('_format_version: "2"'), /^\(file\): unsupported _format_version "2"/);
  });
  it('empty file, several documents, aliases, non-string keys, non-mapping root', () => {
    assert.match(oneError(''), /^\(file\): the file is empty/);
    assert.match(oneError('# only a comment\n'), /^\(file\): the file is empty/);
    assert.match(oneError('_format_version: "1"\n---\n_format_version: "1"\n'), /^\(file\): .*documents/);
    const alias = `_format_version: "1"\nprovider_keys: [&pk {display_name: a, api_key: k, provider: openai}, *pk]`;
    assert.match(oneError(alias), /^\(file\): YAML aliases are not allowed/);
    assert.match(oneError('_format_version: "1"\n1: x\n'), /^\(file\): mapping keys must be strings/);
    assert.match(oneError('- a\n'), /^\(file\): the root must be a mapping/);
    assert.match(oneError('_format_version: "1"\nmodels: [\n'), /^\(file\): invalid YAML/);
  });
  it('collections must be lists of mappings; null collections are empty', () => {
    assert.match(oneError('_format_version: "1"\nmodels: {a: 1}'), /^\(file\): models must be a list/);
    assert.match(oneError('_format_version: "1"\nmodels: [x]'), /^models\[0\]: entry must be a mapping/);
    const r = load('_format_version: "1"\nmodels:\napi_keys: null\n');
    assert.ok(r.ok && r.entries.length === 0);
  });
  it('guardrail_attachments and mcp_policies cannot be expressed', () => {
    assert.match(oneError('_format_version: "1"\nmcp_policies: []'), /unknown top-level key "mcp_policies"/);
    assert.match(oneError('_format_version: "1"\nguardrail_attachments: []'), /unknown top-level key/);
  });
});

describe('entries', () => {
  it('must not contain id', () => {
    const e = oneError(withExample('guardrails: [{id: x, name: g, kind: keyword, patterns: []}]'));
    assert.match(e, /^guardrails\[0\]: entries must not contain "id"/);
  });
  it('identity must be a non-empty string and unique per collection', () => {
    assert.match(
      oneError(withExample('guardrails: [{kind: keyword, patterns: []}]')),
      /^guardrails\[0\]: name is required/,
    );
    assert.match(
      oneError(withExample('guardrails: [{name: "", kind: keyword, patterns: []}]')),
      /^guardrails\[0\]: name/,
    );
    const dup = withExample(
      'guardrails: [{name: g, kind: keyword, patterns: []}, {name: g, kind: keyword, patterns: []}]',
    );
    assert.match(oneError(dup), /^guardrails\[1\] \("g"\): duplicate identity "g"/);
  });
  it('mcp_servers and a2a_agents use name, else display_name', () => {
    const r = load(
      withExample(
        'mcp_servers: [{display_name: tools, url: "https://m"}]\na2a_agents: [{name: ag, url: "https://a"}]',
      ),
    );
    if (!r.ok) assert.fail(r.report);
    const ids = r.entries.map((e) => e.id);
    assert.ok(ids.includes(fileResourceId('mcp_servers', 'tools')));
    assert.ok(ids.includes(fileResourceId('a2a_agents', 'ag')));
  });
  it('interpolation errors are scoped to the entry and the field, without values', () => {
    const e = oneError(EXAMPLE, { APP_CALLER_KEY: 'sk-my-api-key-123' });
    assert.equal(e, 'provider_keys[0] ("oa"): api_key: environment variable UPSTREAM_KEY is not set');
    assert.match(oneError(EXAMPLE, { ...ENV, UPSTREAM_KEY: '' }), /UPSTREAM_KEY is empty/);
  });
  it('the identity itself is interpolated before the id is derived', () => {
    const r = load(EXAMPLE.replace('display_name: oa', 'display_name: "${PK_NAME}"'), {
      ...ENV,
      PK_NAME: 'oa',
    });
    if (!r.ok) assert.fail(r.report);
    assert.equal(r.entries[0]?.id, fileResourceId('provider_keys', 'oa'));
    const e = errors(EXAMPLE.replace('display_name: oa', 'display_name: "${PK_NAME}"'));
    assert.match(e[0] ?? '', /^provider_keys\[0\]: display_name: environment variable PK_NAME is not set/);
  });
  it('schema failures name the entry and the field path', () => {
    const e = oneError(
      EXAMPLE.replace(/^models: .*$/m, 'models: [{display_name: r, routing: {targets: [{}]}}]').replace(
        ', allowed_models: [chat]',
        ', allowed_models: []',
      ),
    );
    assert.match(e, /^models\[0\] \("r"\): .*routing\.targets\[0\]/);
  });
});

describe('sugar', () => {
  it('provider_key must name a provider key; the error lists the defined names', () => {
    const text = EXAMPLE.replace('provider_key: oa', 'provider_key: nope');
    assert.match(
      oneError(text),
      /^models\[0\] \("chat"\): provider_key "nope" names no provider key \(defined: "oa"\)/,
    );
  });
  it('provider_key and provider_key_id are mutually exclusive', () => {
    const text = EXAMPLE.replace(
      'provider_key: oa',
      `provider_key: oa, provider_key_id: "${fileResourceId('provider_keys', 'oa')}"`,
    );
    assert.match(oneError(text), /mutually exclusive/);
  });
  it('explicit provider_key_id must be a derived provider-key id', () => {
    const good = EXAMPLE.replace(
      'provider_key: oa',
      `provider_key_id: "${fileResourceId('provider_keys', 'oa')}"`,
    );
    assert.ok(load(good).ok);
    const bad = EXAMPLE.replace('provider_key: oa', 'provider_key_id: pk-123');
    assert.match(
      oneError(bad),
      /^models\[0\] \("chat"\): provider_key_id: "pk-123" is not the id of a provider key/,
    );
  });
  it('key_env: exactly one of key_env/key_hash; unset, empty and ${ values fail without the plaintext', () => {
    const both = EXAMPLE.replace(
      'key_env: APP_CALLER_KEY',
      `key_env: APP_CALLER_KEY, key_hash: "${'a'.repeat(64)}"`,
    );
    assert.match(oneError(both), /^api_keys\[0\] \("app"\): key_env and key_hash are mutually exclusive/);
    const neither = EXAMPLE.replace('key_env: APP_CALLER_KEY, ', '');
    assert.match(oneError(neither), /one of key_env or key_hash is required/);
    assert.match(
      oneError(EXAMPLE, { UPSTREAM_KEY: 'x' }),
      /^api_keys\[0\] \("app"\): key_env: environment variable APP_CALLER_KEY is not set/,
    );
    assert.match(oneError(EXAMPLE, { UPSTREAM_KEY: 'x', APP_CALLER_KEY: '' }), /APP_CALLER_KEY is empty/);
    const e = oneError(EXAMPLE, { UPSTREAM_KEY: 'x', APP_CALLER_KEY: 'plain-${secret}' });
    assert.match(e, /must not contain/);
    assert.doesNotMatch(e, /plain-/);
  });
  it('rate-limit policy scope_ref and condition values resolve names to ids', () => {
    const text = withExample(
      'rate_limit_policies:\n' +
        '  - {name: p1, scope: model, scope_ref: chat, window: minute, max_requests: 10}\n' +
        '  - {name: p2, scope: api_key, scope_ref: app, window: hour, max_tokens: 100}\n' +
        '  - {name: p3, scope: team, scope_ref: team-a, window: second, max_requests: 1}\n' +
        '  - name: p4\n    limits: {rpm: 5}\n    conditions:\n' +
        '      - {dimension: model, operator: "==", value: chat}\n' +
        '      - {logic: or, children: [{dimension: api_key, operator: in, value: [app]}, {dimension: provider, operator: "==", value: openai}]}',
    );
    const r = load(text);
    if (!r.ok) assert.fail(r.report);
    const p = r.entries.filter((e) => e.kind === 'rate_limit_policies').map((e) => e.value);
    assert.equal(p[0]?.scope_ref, fileResourceId('models', 'chat'));
    assert.equal(p[1]?.scope_ref, fileResourceId('api_keys', 'app'));
    assert.equal(p[2]?.scope_ref, 'team-a');
    assert.deepEqual(p[3]?.conditions, [
      { dimension: 'model', operator: '==', value: fileResourceId('models', 'chat') },
      {
        logic: 'or',
        children: [
          { dimension: 'api_key', operator: 'in', value: [fileResourceId('api_keys', 'app')] },
          { dimension: 'provider', operator: '==', value: 'openai' },
        ],
      },
    ]);
  });
  it('unknown names in scope_ref and conditions are errors', () => {
    const bad = withExample(
      'rate_limit_policies: [{name: p, scope: model, scope_ref: nope, window: minute, max_requests: 1}]',
    );
    assert.match(oneError(bad), /^rate_limit_policies\[0\] \("p"\): scope_ref: "nope" names no model/);
    const cond = withExample(
      'rate_limit_policies: [{name: p, limits: {rpm: 1}, conditions: [{logic: and, children: [{dimension: api_key, operator: in, value: [app, ghost]}]}]}]',
    );
    assert.match(oneError(cond), /conditions\[0\]\.children\[0\]\.value\[1\]: "ghost" names no api key/);
  });
});

describe('cross-checks', () => {
  it('allowed_models must name defined models; globs are exempt', () => {
    assert.match(
      oneError(EXAMPLE.replace('allowed_models: [chat]', 'allowed_models: [chat, gone]')),
      /^api_keys\[0\] \("app"\): allowed_models\[1\]: "gone" names no model/,
    );
    assert.ok(load(EXAMPLE.replace('allowed_models: [chat]', 'allowed_models: ["openai/*", "*"]')).ok);
  });
  it('routing, ensemble and semantic references must name defined models', () => {
    // Appends a second model to the example's models list.
    const withModel = (doc: string) =>
      EXAMPLE.replace(/^models: \[(.*)\]$/m, (_, first: string) => `models:\n  - ${first}\n  - ${doc}`);
    assert.ok(load(withModel('{display_name: r, routing: {targets: [{model: chat}, {model: "gpt-*"}]}}')).ok);
    assert.match(
      oneError(withModel('{display_name: r, routing: {targets: [{model: chat}, {model: ghost}]}}')),
      /^models\[1\] \("r"\): routing\.targets\[1\]\.model: "ghost" names no model/,
    );
    assert.match(
      oneError(withModel('{display_name: e, ensemble: {panel: [{model: chat}], judge: {model: ghost}}}')),
      /ensemble\.judge\.model: "ghost"/,
    );
    assert.match(
      oneError(withModel('{display_name: e, ensemble: {panel: [{model: ghost}], judge: {model: chat}}}')),
      /ensemble\.panel\[0\]\.model: "ghost"/,
    );
    const sem = (s: string) =>
      withModel(
        `{display_name: s, semantic: {match: {threshold: 0.5}, routes: [{name: a, target: chat, examples: [hi]}]${s}}}`,
      );
    assert.ok(load(sem(', embedding_model: chat, default: chat')).ok);
    assert.match(oneError(sem(', embedding_model: ghost')), /semantic\.embedding_model: "ghost"/);
    assert.match(oneError(sem(', default: ghost')), /semantic\.default: "ghost"/);
    assert.match(
      oneError(sem(', on_embedding_failure: {target: ghost}')),
      /semantic\.on_embedding_failure\.target: "ghost"/,
    );
    assert.match(
      oneError(
        withModel(
          '{display_name: s, semantic: {match: {threshold: 0.5}, routes: [{name: a, target: ghost, examples: [hi]}]}}',
        ),
      ),
      /semantic\.routes\[0\]\.target: "ghost"/,
    );
  });
  it('duplicate key_hash, jwt_subject without jwt_provider, duplicate JWT binding', () => {
    const keys = (a: string, b: string) =>
      EXAMPLE.replace(
        'api_keys: [{display_name: app, key_env: APP_CALLER_KEY, allowed_models: [chat]}]',
        `api_keys:\n  - {display_name: app, key_env: APP_CALLER_KEY, allowed_models: [chat]${a}}\n  - {display_name: app2, allowed_models: [chat]${b}}`,
      );
    const sameHash = ', key_hash: 91ed2dbc407561556f3e7be98ba0bd2a57986d6a868c482d867d19c6d40d201c';
    assert.match(
      oneError(keys('', sameHash)),
      /^api_keys\[1\] \("app2"\): key_hash: .*api_keys\[0\] \("app"\)/,
    );
    const other = `, key_hash: "${'b'.repeat(64)}"`;
    assert.match(
      oneError(keys('', `${other}, jwt_subject: u1`)),
      /^api_keys\[1\] \("app2"\): jwt_subject requires jwt_provider/,
    );
    assert.match(
      oneError(keys(', jwt_subject: u1, jwt_provider: idp', `${other}, jwt_subject: u1, jwt_provider: idp`)),
      /^api_keys\[1\] \("app2"\): \(jwt_provider, jwt_subject\)/,
    );
    assert.ok(
      load(keys(', jwt_subject: u1, jwt_provider: idp', `${other}, jwt_subject: u2, jwt_provider: idp`)).ok,
    );
  });
  it('enabled OIDC issuers are unique and OIDC URLs carry no credentials', () => {
    const o = (a: string, b: string) =>
      withExample(`oidc_providers:\n  - {name: a, audiences: [x]${a}}\n  - {name: b, audiences: [x]${b}}`);
    assert.match(
      oneError(o(', issuer: "https://i"', ', issuer: "https://i"')),
      /^oidc_providers\[1\] \("b"\): issuer "https:\/\/i" is also the issuer of enabled oidc_providers\[0\]/,
    );
    assert.ok(load(o(', issuer: "https://i"', ', issuer: "https://i", enabled: false')).ok);
    const creds = oneError(o(', issuer: "https://user:pw@i"', ', issuer: "https://j"'));
    assert.match(creds, /^oidc_providers\[0\] \("a"\): issuer must not contain credentials/);
    assert.doesNotMatch(creds, /pw@/);
    assert.match(
      oneError(
        o(', issuer: "https://i", jwks_uri: "https://i/jwks?access_token=abc"', ', issuer: "https://j"'),
      ),
      /jwks_uri must not contain credentials/,
    );
  });
});

describe('collection of all problems', () => {
  it('reports the first problem of every entry plus file-level problems, in order', () => {
    const text = `_format_version: 1
extra: true
provider_keys: [{display_name: oa, api_key: "\${MISSING}", provider: openai}]
models:
  - {display_name: chat, provider: openai, model_name: m, provider_key: oa, id: x}
  - {display_name: ok, provider: openai, model_name: m, provider_key: oa}
api_keys: [{display_name: app, key_env: NOPE, allowed_models: [ghost]}]
`;
    const r = load(text, {});
    if (r.ok) assert.fail('expected errors');
    assert.equal(r.errors.length, 5);
    assert.match(r.errors[0] ?? '', /^\(file\): _format_version must be the string/);
    assert.match(r.errors[1] ?? '', /^\(file\): unknown top-level key "extra"/);
    assert.match(
      r.errors[2] ?? '',
      /^provider_keys\[0\] \("oa"\): api_key: environment variable MISSING is not set/,
    );
    assert.match(r.errors[3] ?? '', /^models\[0\]: entries must not contain "id"/);
    assert.match(
      r.errors[4] ?? '',
      /^api_keys\[0\] \("app"\): key_env: environment variable NOPE is not set/,
    );
    assert.ok(r.report.startsWith('resources file resources.yaml: 5 error(s):\n  - (file): '));
  });
});

describe('api keys across entries', () => {
  const oidc = 'oidc_providers: [{name: idp, issuer: "https://idp.example", audiences: [aisix]}]\n';
  const key = (name: string, hash: string, more = '') =>
    `  - {display_name: ${name}, key_hash: "${hash.repeat(64)}", allowed_models: [chat]${more}}\n`;

  it('the same key_hash twice names the first holder', () => {
    const text = `${EXAMPLE}${oidc}`.replace(
      /api_keys: .*\n/,
      `api_keys:\n${key('a', 'a')}${key('b', 'b')}${key('c', 'a')}${key('d', 'b')}`,
    );
    assert.deepEqual(errors(text), [
      'api_keys[2] ("c"): key_hash: the same key is already used by api_keys[0] ("a")',
      'api_keys[3] ("d"): key_hash: the same key is already used by api_keys[1] ("b")',
    ]);
  });

  it('one (jwt_provider, jwt_subject) binding per key', () => {
    const jwt = (sub: string) => `, jwt_provider: idp, jwt_subject: ${sub}`;
    const text = `${EXAMPLE}${oidc}`.replace(
      /api_keys: .*\n/,
      `api_keys:\n${key('a', 'a', jwt('u1'))}${key('b', 'b', jwt('u2'))}${key('c', 'c', jwt('u1'))}`,
    );
    assert.deepEqual(errors(text), [
      'api_keys[2] ("c"): (jwt_provider, jwt_subject) is already bound to api_keys[0] ("a")',
    ]);
  });
});
