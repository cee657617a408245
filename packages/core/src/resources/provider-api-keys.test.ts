// Characterization tables for provider_keys and api_keys (strict write, lenient read).
import { describe } from 'node:test';
import { accepted, green, red, redParse, rejected, runTable, yellow } from './characterize.test-support.js';

/** A parseable CA certificate (self-signed, test only). */
const PEM = `-----BEGIN CERTIFICATE-----
MIIBhjCCAS2gAwIBAgIUWKHedAcfGLBNcRMLW7NyxIOPcMUwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNYWlzaXgtdGVzdC1jYTAgFw0yNjEyMDYwNTI1MDRaGA8yMTI2
MTExMjA1MjUwNFowGDEWMBQGA1UEAwwNYWlzaXgtdGVzdC1jYTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABFkaV9mY7YIUkjD4Ou48jQHalAW1TKR5ptClayY8xWsL
wMyvTaX4S5bwDC4s6wwhopeh8AYUrH1fKSHrtlKQYyGjUzBRMB0GA1UdDgQWBBTT
ZJL/yEbj+IQzbjZPT8pWVFKjiTAfBgNVHSMEGDAWgBTTZJL/yEbj+IQzbjZPT8pW
VFKjiTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIFfW82lctCIh
l6wQjqaXW+2tfWhjxSP7MtMyMgh5/AooAiBavxOFArcNOj4wNCbBzwsPKoNL7vG8
nJhG0QyZ0EcHZA==
-----END CERTIFICATE-----\n`;

const HASH = '91ed2dbc407561556f3e7be98ba0bd2a57986d6a868c482d867d19c6d40d201c';

describe('provider_keys', () => {
  const base = { display_name: 'openai-main', api_key: 'sk-live-abcdef123456', provider: 'openai' };
  runTable('provider_keys', [
    {
      label: 'minimal; defaults filled',
      doc: base,
      write: accepted({
        api_key: 'sk-live-abcdef123456',
        provider: 'openai',
        telemetry_tags: { featured: false },
        strip_headers: ['authorization', 'cookie', 'set-cookie', 'x-api-key'],
      }),
      read: green,
    },
    {
      label: 'secret alias stored as api_key',
      doc: { display_name: 'p', secret: 'sk-from-alias-0001', adapter: 'openai' },
      write: accepted({ api_key: 'sk-from-alias-0001' }, ['secret']),
      read: green,
    },
    {
      label: 'both api_key and secret',
      doc: { ...base, secret: 'x' },
      write: rejected('', 'malformed ProviderKey payload'),
      read: redParse,
    },
    {
      label: 'neither api_key nor secret',
      doc: { display_name: 'p' },
      write: rejected('', 'malformed ProviderKey payload'),
      read: redParse,
    },
    {
      label: 'empty api_key',
      doc: { ...base, api_key: '' },
      write: rejected('/api_key', 'length'),
      read: red,
    },
    {
      label: 'strip_headers normalised',
      doc: { ...base, strip_headers: [' X-Api-Key ', 'x-api-key', '', 'Cookie', '   '] },
      write: accepted({ strip_headers: ['x-api-key', 'cookie'] }),
      read: green,
    },
    {
      label: 'adapter enum',
      doc: { ...base, adapter: 'cohere' },
      write: rejected('/adapter', 'must be one of'),
      read: red,
    },
    {
      label: 'adapter null and api_base null',
      doc: { ...base, adapter: null, api_base: null },
      write: accepted({ adapter: null }),
      read: green,
    },
    {
      label: 'telemetry kind enum',
      doc: { ...base, telemetry_tags: { kind: 'other' } },
      write: rejected('/telemetry_tags/kind', 'must be one of'),
      read: red,
    },
    {
      label: 'telemetry featured default inside given object',
      doc: { ...base, telemetry_tags: { kind: 'byo' } },
      write: accepted({ telemetry_tags: { kind: 'byo', featured: false } }),
      read: green,
    },
    {
      label: 'stream_done_marker enum',
      doc: { ...base, response: { stream_done_marker: 'never' } },
      write: rejected('/response/stream_done_marker', 'must be one of'),
      read: red,
    },
    {
      label: 'request object closed',
      doc: { ...base, request: { param_renames: { a: 'b' }, extra: 1 } },
      write: rejected('/request', 'unknown field "extra"'),
      read: yellow('request.extra'),
    },
    {
      label: 'tls verify default',
      doc: { ...base, tls: { ca_cert: PEM } },
      write: accepted({ tls: { ca_cert: PEM, verify: true } }),
      read: green,
    },
    {
      label: 'tls ca_cert that is not a PEM certificate (write only: stored documents still load)',
      doc: { ...base, tls: { ca_cert: 'PEM' } },
      write: rejected('/tls/ca_cert', 'tls.ca_cert must hold one or more PEM certificates'),
      read: green,
    },
    {
      label: 'tls ca_cert with a corrupt certificate block',
      doc: { ...base, tls: { ca_cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } },
      write: rejected('/tls/ca_cert', 'tls.ca_cert must hold one or more PEM certificates'),
      read: green,
    },
    {
      label: 'tls verify false without a CA',
      doc: { ...base, tls: { verify: false } },
      write: accepted({ tls: { verify: false } }),
      read: green,
    },
    {
      label: 'unknown root field',
      doc: { ...base, region: 'x' },
      write: rejected('', 'unknown field "region"'),
      read: yellow('region'),
    },
    // Dispatch path and api_base: write-time only, so older stored documents still load.
    {
      label: 'neither provider nor adapter: nothing dispatches',
      doc: { display_name: 'p', api_key: 'k' },
      write: rejected('/provider', 'no provider and no adapter'),
      read: green,
    },
    {
      label: 'unknown provider without adapter',
      doc: { ...base, provider: 'mistral' },
      write: rejected('/provider', 'unknown provider "mistral"'),
      read: green,
    },
    {
      label: 'unknown provider with a protocol family',
      doc: { ...base, provider: 'mistral', adapter: 'openai' },
      write: accepted({ provider: 'mistral', adapter: 'openai' }),
      read: green,
    },
    {
      label: 'adapter alone',
      doc: { display_name: 'p', api_key: 'k', adapter: 'bedrock' },
      write: accepted({ provider: '', adapter: 'bedrock' }),
      read: green,
    },
    {
      label: 'vendor that needs an adapter',
      doc: { ...base, provider: 'deepseek' },
      write: rejected('/provider', 'served only with adapter "openai"'),
      read: green,
    },
    {
      label: 'api_base not a URL',
      doc: { ...base, api_base: 'not a url' },
      write: rejected('/api_base', 'absolute http(s) URL'),
      read: green,
    },
    {
      label: 'api_base with another scheme',
      doc: { ...base, api_base: 'ftp://files.example/v1' },
      write: rejected('/api_base', 'absolute http(s) URL'),
      read: green,
    },
    {
      label: 'api_base http(s) URL',
      doc: { ...base, api_base: ' http://127.0.0.1:8080/v1 ' },
      write: accepted({ api_base: ' http://127.0.0.1:8080/v1 ' }),
      read: green,
    },
    {
      label: 'azure-openai resource name as api_base',
      doc: { ...base, provider: '', adapter: 'azure-openai', api_base: 'my-resource' },
      write: accepted({ api_base: 'my-resource' }),
      read: green,
    },
    {
      label: 'resource name without azure-openai',
      doc: { ...base, api_base: 'my-resource' },
      write: rejected('/api_base', 'absolute http(s) URL'),
      read: green,
    },
  ]);
});

describe('api_keys', () => {
  const base = { key_hash: HASH, allowed_models: ['gpt-4o', 'openai/*'] };
  runTable('api_keys', [
    { label: 'minimal', doc: base, write: accepted(base), read: green },
    {
      label: 'empty allowed_models (deny all)',
      doc: { ...base, allowed_models: [] },
      write: accepted({ allowed_models: [] }),
      read: green,
    },
    {
      label: 'missing allowed_models',
      doc: { key_hash: HASH },
      write: rejected('', '"allowed_models" is a required property'),
      read: red,
    },
    {
      label: 'missing key_hash',
      doc: { allowed_models: [] },
      write: rejected('', '"key_hash" is a required property'),
      read: red,
    },
    // Written by us, a key_hash must be one a key can hash to; read from the store it only has
    // to be a non-empty string (control-plane §3.3), so another tool's document still loads.
    {
      label: 'uppercase key_hash',
      doc: { ...base, key_hash: HASH.toUpperCase() },
      write: rejected('/key_hash', 'SHA-256'),
      read: green,
    },
    {
      label: 'short key_hash',
      doc: { ...base, key_hash: 'abc' },
      write: rejected('/key_hash', 'SHA-256'),
      read: green,
    },
    {
      label: 'empty key_hash',
      doc: { ...base, key_hash: '' },
      write: rejected('/key_hash', 'SHA-256'),
      read: red,
    },
    {
      label: 'whole document (decision 9)',
      doc: {
        ...base,
        display_name: 'ci',
        team_id: 't1',
        user_id: 'u1',
        user_name: 'Ann',
        jwt_subject: 'sub',
        jwt_provider: 'okta',
        allowed_tools: ['gh__*'],
        mcp_access: { mode: 'restrict', allow: ['gh__*'] },
        mcp_rate_limits: { gh: { rpm: 5 } },
        allowed_agents: null,
        expires_at: '2030-01-01T00:00:00Z',
        rate_limit: { rpm: 10, tpm: 1000 },
        disabled: true,
      },
      write: accepted({ team_id: 't1', disabled: true, mcp_rate_limits: { gh: { rpm: 5 } } }),
      read: green,
    },
    {
      label: 'disabled false is omitted',
      doc: { ...base, disabled: false },
      write: accepted({}, ['disabled']),
      read: green,
    },
    {
      label: 'expires_at not RFC 3339',
      doc: { ...base, expires_at: 'tomorrow' },
      write: rejected('/expires_at', 'RFC 3339'),
      read: red,
    },
    {
      label: 'expires_at null',
      doc: { ...base, expires_at: null },
      write: accepted({ expires_at: null }),
      read: green,
    },
    {
      label: 'empty team_id',
      doc: { ...base, team_id: '' },
      write: rejected('/team_id', 'length'),
      read: red,
    },
    {
      label: 'mcp_access mode required',
      doc: { ...base, mcp_access: { allow: [] } },
      write: rejected('/mcp_access', '"mode" is a required property'),
      read: red,
    },
    {
      label: 'mcp_rate_limits has no token fields',
      doc: { ...base, mcp_rate_limits: { gh: { tpm: 5 } } },
      write: rejected('/mcp_rate_limits/gh', 'unknown field "tpm"'),
      read: yellow('mcp_rate_limits.gh.tpm'),
    },
    {
      label: 'unknown field',
      doc: { ...base, scopes: ['x'] },
      write: rejected('', 'unknown field "scopes"'),
      read: yellow('scopes'),
    },
  ]);
});
