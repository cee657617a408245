// Characterization tables for the extended kinds: observability_exporters, mcp_servers,
// mcp_policies, a2a_agents and oidc_providers (strict write, lenient read), with their kind rules.
import { describe } from 'node:test';
import { accepted, green, red, redParse, rejected, runTable, yellow } from './characterize.test-support.js';

describe('observability_exporters', () => {
  const otlp = { name: 'otel', kind: 'otlp_http', endpoint: 'https://collector.example.com/v1/traces' };
  runTable('observability_exporters', [
    {
      label: 'otlp https; defaults',
      doc: otlp,
      write: accepted({ enabled: true, content_mode: 'metadata_only', content_max_bytes: 131072 }),
      read: green,
    },
    {
      label: 'otlp http to localhost',
      doc: { ...otlp, endpoint: 'http://localhost:4318/v1/traces' },
      write: accepted(),
      read: green,
    },
    {
      label: 'otlp http to otel-collector',
      doc: { ...otlp, endpoint: 'http://otel-collector:4318' },
      write: accepted(),
      read: green,
    },
    {
      label: 'otlp http to another host',
      doc: { ...otlp, endpoint: 'http://collector.example.com' },
      write: rejected('/endpoint', 'http://'),
      read: red,
    },
    {
      label: 'otlp http to look-alike host',
      doc: { ...otlp, endpoint: 'http://localhost.evil.com' },
      write: rejected('/endpoint', 'http://'),
      read: red,
    },
    {
      label: 'otlp sample_rate above 1',
      doc: { ...otlp, sample_rate: 2 },
      write: rejected('/sample_rate', '<= 1'),
      read: red,
    },
    {
      label: 'kind branch closed: field of another kind',
      doc: { ...otlp, bucket: 'b' },
      write: rejected('', 'unknown field "bucket"'),
      read: yellow('bucket'),
    },
    {
      label: 'unknown kind',
      doc: { name: 'x', kind: 'splunk' },
      write: rejected('/kind', 'must be one of'),
      read: red,
    },
    {
      label: 'datadog defaults',
      doc: { name: 'dd', kind: 'datadog', site: 'datadoghq.eu', service: 'gw', credential_ref: 'prod' },
      write: accepted({ ddsource: 'aisix-ai-gateway', tags: [] }),
      read: green,
    },
    {
      label: 'datadog unknown site',
      doc: { name: 'dd', kind: 'datadog', site: 'example.com', service: 'gw', credential_ref: 'prod' },
      write: rejected('/site', 'Datadog site'),
      read: red,
    },
    {
      label: 'sls endpoint must be aliyuncs',
      doc: {
        name: 's',
        kind: 'aliyun_sls',
        endpoint: 'https://example.com',
        project: 'p',
        logstore: 'l',
        credential_ref: 'c',
      },
      write: rejected('/endpoint', 'aliyuncs.com'),
      read: red,
    },
    {
      label: 'sls endpoint ok',
      doc: {
        name: 's',
        kind: 'aliyun_sls',
        endpoint: 'cn-hangzhou.log.aliyuncs.com',
        project: 'p',
        logstore: 'l',
        credential_ref: 'c',
      },
      write: accepted(),
      read: green,
    },
    {
      label: 'object store needs credential_ref',
      doc: { name: 'o', kind: 'object_store', provider: 's3', bucket: 'b', prefix: 'logs/' },
      write: rejected('', 'credential_ref'),
      read: red,
    },
    {
      label: 'object store cloud identity on s3',
      doc: {
        name: 'o',
        kind: 'object_store',
        provider: 's3',
        bucket: 'b',
        prefix: '',
        auth_mode: 'cloud_identity',
      },
      write: accepted({ compression: 'gzip' }),
      read: green,
    },
    {
      label: 'object store cloud identity not on azure',
      doc: {
        name: 'o',
        kind: 'object_store',
        provider: 'azure_blob',
        bucket: 'b',
        prefix: '',
        auth_mode: 'cloud_identity',
      },
      write: rejected('', 's3 and gcs'),
      read: red,
    },
  ]);
});

describe('mcp_servers', () => {
  const base = { name: 'github', url: 'https://mcp.example.com/mcp' };
  const spec = { openapi: '3.0.3', paths: { '/repos': { get: { operationId: 'list' } } } };
  runTable('mcp_servers', [
    {
      label: 'minimal; defaults',
      doc: base,
      write: accepted({ type: 'mcp', transport: 'streamable_http', auth_type: 'none', enabled: true }),
      read: green,
    },
    {
      label: 'display_name stored as name',
      doc: { display_name: 'github', url: base.url },
      write: accepted({ name: 'github' }, ['display_name']),
      read: green,
    },
    {
      label: 'both name and display_name',
      doc: { ...base, display_name: 'gh' },
      write: rejected('', 'exactly one of `name` or `display_name`'),
      read: redParse,
    },
    {
      label: 'neither name nor display_name',
      doc: { url: base.url },
      write: rejected('', 'exactly one'),
      read: redParse,
    },
    {
      label: 'name with __',
      doc: { ...base, name: 'git__hub' },
      write: rejected('', 'must not contain "__"'),
      read: redParse,
    },
    {
      label: 'name ending with _',
      doc: { ...base, name: 'github_' },
      write: rejected('', 'must not end with "_"'),
      read: redParse,
    },
    {
      // Write-time only: an older stored document still loads.
      label: 'url without a scheme',
      doc: { ...base, url: 'mcp.example.com/mcp' },
      write: rejected('/url', 'absolute http(s) URL'),
      read: green,
    },
    {
      label: 'bearer without secret',
      doc: { ...base, auth_type: 'bearer' },
      write: rejected('', 'require a non-empty secret'),
      read: redParse,
    },
    {
      label: 'oauth2 without token_url',
      doc: { ...base, auth_type: 'oauth2', secret: 's', client_id: 'c' },
      write: rejected('', 'client_id and token_url'),
      read: redParse,
    },
    {
      label: 'mcp type with spec',
      doc: { ...base, spec },
      write: rejected('', 'must not carry spec'),
      read: redParse,
    },
    {
      label: 'openapi with spec; api_key_header default',
      doc: { ...base, type: 'openapi', spec, auth_type: 'api_key', secret: 'k' },
      write: accepted({ api_key_header: 'x-api-key' }),
      read: green,
    },
    {
      label: 'openapi without spec',
      doc: { ...base, type: 'openapi' },
      write: rejected('', 'OpenAPI 3.x'),
      read: redParse,
    },
    {
      label: 'openapi with Swagger 2',
      doc: { ...base, type: 'openapi', spec: { swagger: '2.0', paths: spec.paths } },
      write: rejected('', 'OpenAPI 3.x'),
      read: redParse,
    },
    {
      label: 'openapi spec without operations',
      doc: { ...base, type: 'openapi', spec: { openapi: '3.1.0', paths: {} } },
      write: rejected('', 'at least one tool'),
      read: redParse,
    },
    {
      label: 'openapi spec whose only operation has a multipart body (no tool)',
      doc: {
        ...base,
        type: 'openapi',
        spec: {
          openapi: '3.0.0',
          paths: { '/a': { post: { requestBody: { content: { 'multipart/form-data': {} } } } } },
        },
      },
      write: rejected('', 'at least one tool'),
      read: redParse,
    },
    {
      // agents-and-jobs §2.9: refused on write; a stored one still loads (tools `same`, `same_2`).
      label: 'openapi operations that give the same tool name',
      doc: {
        ...base,
        type: 'openapi',
        spec: {
          openapi: '3.0.0',
          paths: { '/a': { get: { operationId: 'Same' } }, '/b': { get: { operationId: 'same' } } },
        },
      },
      write: rejected('', 'same tool name'),
      read: green,
    },
    {
      label: 'api_key_header needs api_key auth',
      doc: { ...base, type: 'openapi', spec, api_key_header: 'x-key' },
      write: rejected('', 'api_key_header is only allowed'),
      read: redParse,
    },
    {
      label: 'api_key_header must be a token',
      doc: { ...base, type: 'openapi', spec, auth_type: 'api_key', secret: 'k', api_key_header: 'x key' },
      write: rejected('', 'valid HTTP header name'),
      read: redParse,
    },
    {
      label: 'timeout_ms 0',
      doc: { ...base, timeout_ms: 0 },
      write: rejected('/timeout_ms', '>= 1'),
      read: red,
    },
    {
      label: 'transport only streamable_http',
      doc: { ...base, transport: 'sse' },
      write: rejected('/transport', 'must be one of'),
      read: red,
    },
    {
      label: 'unknown field',
      doc: { ...base, headers: {} },
      write: rejected('', 'unknown field "headers"'),
      read: yellow('headers'),
    },
  ]);
});

describe('mcp_policies', () => {
  runTable('mcp_policies', [
    {
      label: 'env scope; enabled default',
      doc: { mode: 'all', scope: 'env' },
      write: accepted({ enabled: true }),
      read: green,
    },
    {
      label: 'team scope needs scope_ref',
      doc: { mode: 'selected', scope: 'team', allow: ['gh__*'] },
      write: rejected('', 'scope_ref'),
      read: red,
    },
    {
      label: 'team scope with scope_ref',
      doc: { mode: 'selected', scope: 'team', scope_ref: 't1', allow: ['gh__*'], deny: ['gh__delete*'] },
      write: accepted(),
      read: green,
    },
    {
      label: 'mode enum',
      doc: { mode: 'some', scope: 'env' },
      write: rejected('/mode', 'must be one of'),
      read: red,
    },
    {
      label: 'unknown field',
      doc: { mode: 'none', scope: 'env', name: 'x' },
      write: rejected('', 'unknown field "name"'),
      read: yellow('name'),
    },
  ]);
});

describe('a2a_agents', () => {
  const base = { name: 'planner', url: 'https://agents.example.com/planner' };
  runTable('a2a_agents', [
    {
      label: 'minimal; defaults',
      doc: base,
      write: accepted({ protocol_version: '1.0', auth_type: 'none', enabled: true }),
      read: green,
    },
    {
      label: 'display_name stored as name',
      doc: { display_name: 'planner', url: base.url },
      write: accepted({ name: 'planner' }, ['display_name']),
      read: green,
    },
    {
      label: 'both labels',
      doc: { ...base, display_name: 'p' },
      write: rejected('', 'exactly one'),
      read: redParse,
    },
    {
      label: 'name with /',
      doc: { ...base, name: 'a/b' },
      write: rejected('', 'one URL path segment'),
      read: redParse,
    },
    {
      label: 'name with whitespace',
      doc: { ...base, name: 'a b' },
      write: rejected('', 'one URL path segment'),
      read: redParse,
    },
    {
      label: 'name with %',
      doc: { ...base, name: 'a%2f' },
      write: rejected('', 'one URL path segment'),
      read: redParse,
    },
    {
      label: 'name with DEL',
      doc: { ...base, name: 'a\u007f' },
      write: rejected('', 'one URL path segment'),
      read: redParse,
    },
    {
      label: 'oauth2 rejected',
      doc: { ...base, auth_type: 'oauth2', secret: 's' },
      write: rejected('/auth_type', 'must be one of'),
      read: red,
    },
    {
      label: 'api_key requires secret',
      doc: { ...base, auth_type: 'api_key' },
      write: rejected('', 'non-empty secret'),
      read: redParse,
    },
    {
      label: 'protocol 0.3',
      doc: { ...base, protocol_version: '0.3' },
      write: accepted({ protocol_version: '0.3' }),
      read: green,
    },
    {
      // Write-time only: an older stored document still loads.
      label: 'url without a scheme',
      doc: { ...base, url: 'agents.example.com/planner' },
      write: rejected('/url', 'absolute http(s) URL'),
      read: green,
    },
    {
      label: 'url with a non-http scheme',
      doc: { ...base, url: 'ftp://agents.example.com/planner' },
      write: rejected('/url', 'absolute http(s) URL'),
      read: green,
    },
  ]);
});

describe('oidc_providers', () => {
  const base = { name: 'okta', issuer: 'https://okta.example.com', audiences: ['aisix'] };
  runTable('oidc_providers', [
    {
      label: 'minimal; defaults',
      doc: base,
      write: accepted({ identity_claim: 'sub', leeway_secs: 0, enabled: true }),
      read: green,
    },
    {
      label: 'audiences must be non-empty',
      doc: { ...base, audiences: [] },
      write: rejected('/audiences', 'length'),
      read: red,
    },
    {
      label: 'issuer required',
      doc: { name: 'x', audiences: ['a'] },
      write: rejected('', '"issuer"'),
      read: red,
    },
    {
      label: 'leeway above 300',
      doc: { ...base, leeway_secs: 301 },
      write: rejected('/leeway_secs', '<= 300'),
      read: red,
    },
    {
      label: 'bound_claims string or list',
      doc: { ...base, bound_claims: { groups: ['a', 'b'], tenant: 't' } },
      write: accepted(),
      read: green,
    },
    {
      label: 'bound_claims empty list',
      doc: { ...base, bound_claims: { groups: [] } },
      write: rejected('/bound_claims/groups', ''),
      read: red,
    },
    {
      label: 'unknown field',
      doc: { ...base, client_secret: 'x' },
      write: rejected('', 'unknown field "client_secret"'),
      read: yellow('client_secret'),
    },
    {
      // Write-time only: an older stored document still loads.
      label: 'jwks_uri not an http(s) URL',
      doc: { ...base, jwks_uri: 'okta.example.com/keys' },
      write: rejected('/jwks_uri', 'absolute http(s) URL'),
      read: green,
    },
    {
      label: 'issuer not a URL, no jwks_uri (discovery impossible)',
      doc: { ...base, issuer: 'okta' },
      write: rejected('/issuer', 'absolute http(s) URL'),
      read: green,
    },
    {
      label: 'issuer not a URL with a jwks_uri (a plain StringOrURI iss)',
      doc: { ...base, issuer: 'kubernetes/serviceaccount', jwks_uri: 'http://127.0.0.1:8080/keys' },
      write: accepted(),
      read: green,
    },
  ]);
});
