// Characterization tables for guardrails, guardrail_attachments and cache_policies
// (strict write, lenient read).
import { describe } from 'node:test';
import { accepted, green, red, rejected, runTable, yellow } from './characterize.test-support.js';

describe('guardrails', () => {
  const kw = { name: 'no-secrets', kind: 'keyword', patterns: [{ kind: 'literal', value: 'password' }] };
  runTable('guardrails', [
    {
      label: 'keyword; common defaults filled',
      doc: kw,
      write: accepted({
        enabled: true,
        hook_point: 'both',
        fail_open: true,
        enforcement_mode: 'block',
        mandatory: false,
        direction: 'both',
      }),
      read: green,
    },
    {
      label: 'keyword with empty pattern list',
      doc: { ...kw, patterns: [] },
      write: accepted({ patterns: [] }),
      read: green,
    },
    {
      label: 'keyword requires patterns',
      doc: { name: 'k', kind: 'keyword' },
      write: rejected('', '"patterns" is a required property'),
      read: red,
    },
    {
      label: 'pattern kind enum',
      doc: { ...kw, patterns: [{ kind: 'glob', value: 'x' }] },
      write: rejected('/patterns/0/kind', 'must be one of'),
      read: red,
    },
    {
      label: 'pattern object is closed',
      doc: { ...kw, patterns: [{ kind: 'literal', value: 'x', flags: 'i' }] },
      write: rejected('/patterns/0', 'unknown field "flags"'),
      read: yellow('patterns[].flags'),
    },
    {
      label: 'root is open: client id ignored on write',
      doc: { ...kw, id: 'x', note: 'y' },
      write: accepted({}, ['id', 'note']),
      read: yellow('id', 'note'),
    },
    {
      label: 'unknown kind',
      doc: { name: 'g', kind: 'llama_guard' },
      write: rejected('/kind', 'must be one of'),
      read: red,
    },
    {
      label: 'missing kind',
      doc: { name: 'g' },
      write: rejected('', '"kind" is a required property'),
      read: red,
    },
    {
      label: 'missing name',
      doc: { kind: 'pii' },
      write: rejected('', '"name" is a required property'),
      read: red,
    },
    {
      label: 'hook_point enum',
      doc: { ...kw, hook_point: 'stream' },
      write: rejected('/hook_point', 'must be one of'),
      read: red,
    },
    {
      label: 'enforcement_mode any string',
      doc: { ...kw, enforcement_mode: 'shadow' },
      write: accepted({ enforcement_mode: 'shadow' }),
      read: green,
    },
    {
      label: 'pii defaults',
      doc: { name: 'p', kind: 'pii', detectors: [{ type: 'email', action: 'mask' }] },
      write: accepted({ default_action: 'mask' }),
      read: green,
    },
    {
      label: 'pii detector type enum',
      doc: { name: 'p', kind: 'pii', detectors: [{ type: 'passport', action: 'mask' }] },
      write: rejected('/detectors/0/type', 'must be one of'),
      read: red,
    },
    {
      label: 'pii custom pattern must compile',
      doc: { name: 'p', kind: 'pii', custom_patterns: [{ name: 'x', regex: '(', action: 'block' }] },
      write: rejected('/custom_patterns/0/regex', 'compile'),
      read: red,
    },
    {
      // data-plane §11.2: `custom_patterns [{name, regex, action?}]`, default_action applies.
      label: 'pii custom pattern without its own action',
      doc: {
        name: 'p',
        kind: 'pii',
        default_action: 'block',
        custom_patterns: [{ name: 'emp', regex: 'EMP-[0-9]{6}' }],
      },
      write: accepted({ custom_patterns: [{ name: 'emp', regex: 'EMP-[0-9]{6}' }] }),
      read: green,
    },
    {
      label: 'keyword regex must compile',
      doc: { ...kw, patterns: [{ kind: 'regex', value: '(unclosed' }] },
      write: rejected('/patterns/0/value', 'compile'),
      read: red,
    },
    {
      label: 'keyword regex with a backreference (not RE2)',
      doc: { ...kw, patterns: [{ kind: 'regex', value: '(a)\\1' }] },
      write: rejected('/patterns/0/value', 'RE2'),
      read: red,
    },
    {
      label: 'keyword regex with an inline case flag',
      doc: { ...kw, patterns: [{ kind: 'regex', value: '(?i)secret-[0-9]+' }] },
      write: accepted({}),
      read: green,
    },
    {
      label: 'pii custom pattern with lookahead (not RE2)',
      doc: { name: 'p', kind: 'pii', custom_patterns: [{ name: 'x', regex: 'a(?=b)', action: 'mask' }] },
      write: rejected('/custom_patterns/0/regex', 'RE2'),
      read: red,
    },
    {
      label: 'bedrock with timed latency',
      doc: {
        name: 'b',
        kind: 'bedrock',
        region: 'us-east-1',
        guardrail_id: 'gid',
        guardrail_version: '1',
        aws_credentials: { kind: 'static', access_key_id: 'AKIA', secret_access_key: 'shh' },
        latency_mode: { kind: 'timed', timeout_ms: 500 },
      },
      write: accepted({ output_fail_open: false }),
      read: green,
    },
    {
      label: 'bedrock timed latency below 100',
      doc: {
        name: 'b',
        kind: 'bedrock',
        region: 'r',
        guardrail_id: 'g',
        guardrail_version: '1',
        aws_credentials: { kind: 'static', access_key_id: 'a', secret_access_key: 's' },
        latency_mode: { kind: 'timed', timeout_ms: 50 },
      },
      write: rejected('/latency_mode/timeout_ms', '>= 100'),
      read: red,
    },
    {
      label: 'bedrock credentials closed',
      doc: {
        name: 'b',
        kind: 'bedrock',
        region: 'r',
        guardrail_id: 'g',
        guardrail_version: '1',
        aws_credentials: { kind: 'static', access_key_id: 'a', secret_access_key: 's', session_token: 't' },
        latency_mode: { kind: 'serial' },
      },
      write: rejected('/aws_credentials', 'unknown field "session_token"'),
      read: yellow('aws_credentials.session_token'),
    },
    {
      label: 'lakera requires api_key',
      doc: { name: 'l', kind: 'lakera' },
      write: rejected('', '"api_key"'),
      read: red,
    },
    {
      label: 'azure text moderation defaults',
      doc: { name: 'a', kind: 'azure_content_safety_text_moderation', endpoint: 'https://x', api_key: 'k' },
      write: accepted({
        categories: ['Hate', 'Sexual', 'SelfHarm', 'Violence'],
        severity_threshold: 2,
        window_size: 10000,
        window_overlap_size: 256,
        timeout_ms: 5000,
        on_buffer_exceeded: 'fail_closed',
      }),
      read: green,
    },
    {
      label: 'azure severity above 7',
      doc: {
        name: 'a',
        kind: 'azure_content_safety_text_moderation',
        endpoint: 'e',
        api_key: 'k',
        severity_threshold: 8,
      },
      write: rejected('/severity_threshold', '<= 7'),
      read: red,
    },
    {
      label: 'aliyun window_size above 2000',
      doc: {
        name: 'a',
        kind: 'aliyun_text_moderation',
        region: 'r',
        access_key_id: 'i',
        access_key_secret: 's',
        window_size: 2001,
      },
      write: rejected('/window_size', '<= 2000'),
      read: red,
    },
    {
      label: 'aliyun ai guardrail defaults',
      doc: {
        name: 'a',
        kind: 'aliyun_ai_guardrail',
        region: 'r',
        access_key_id: 'i',
        access_key_secret: 's',
      },
      write: accepted({ service_level: 'pro', window_size: 2000, window_overlap_size: 128 }),
      read: green,
    },
    {
      label: 'openai moderation model default',
      doc: { name: 'o', kind: 'openai_moderation', api_key: 'k' },
      write: accepted({ model: 'omni-moderation-latest', category_thresholds: {} }),
      read: green,
    },
    {
      label: 'presidio defaults',
      doc: { name: 'p', kind: 'presidio', analyzer_url: 'http://a', anonymizer_url: 'http://b' },
      write: accepted({ language: 'en', operator: 'replace' }),
      read: green,
    },
  ]);
});

describe('guardrail_attachments', () => {
  const base = { guardrail_id: 'g1', scope_type: 'model', scope_id: 'm1', priority: 10 };
  runTable('guardrail_attachments', [
    { label: 'model scope; enabled default', doc: base, write: accepted({ enabled: true }), read: green },
    {
      label: 'env scope with null scope_id',
      doc: { guardrail_id: 'g', scope_type: 'env', scope_id: null, priority: 0 },
      write: accepted({ scope_id: null }),
      read: green,
    },
    {
      label: 'negative priority is an i32',
      doc: { ...base, priority: -5 },
      write: accepted({ priority: -5 }),
      read: green,
    },
    {
      label: 'priority required',
      doc: { guardrail_id: 'g', scope_type: 'env' },
      write: rejected('', '"priority"'),
      read: red,
    },
    {
      label: 'scope_type enum',
      doc: { ...base, scope_type: 'user' },
      write: rejected('/scope_type', 'must be one of'),
      read: red,
    },
    {
      label: 'priority beyond i32',
      doc: { ...base, priority: 2 ** 31 },
      write: rejected('/priority', '<='),
      read: red,
    },
    { label: 'root open', doc: { ...base, id: 'x' }, write: accepted({}, ['id']), read: yellow('id') },
    {
      // It would match nothing and still take the guardrail out of its implicit env scope.
      label: 'scoped attachment without scope_id: refused on write, still loads from the store',
      doc: { guardrail_id: 'g', scope_type: 'model', priority: 1 },
      write: rejected('', '"scope_id" is required when scope_type is model'),
      read: green,
    },
    {
      label: 'team attachment with an empty scope_id',
      doc: { guardrail_id: 'g', scope_type: 'team', scope_id: '', priority: 1 },
      write: rejected('/scope_id', 'length must be >= 1'),
      read: green,
    },
  ]);
});

describe('cache_policies', () => {
  runTable('cache_policies', [
    {
      label: 'minimal; defaults filled',
      doc: { name: 'c' },
      write: accepted({
        enabled: true,
        applies_to: 'all',
        ttl_seconds: 3600,
        backend: 'memory',
        scope: 'api_key',
        purge_generation: 0,
      }),
      read: green,
    },
    {
      label: 'name longer than 120',
      doc: { name: 'x'.repeat(121) },
      write: rejected('/name', '<= 120'),
      read: red,
    },
    {
      // JSON Schema counts characters (code points): each emoji is one, two UTF-16 units.
      label: 'name of 120 characters outside the BMP',
      doc: { name: '😀'.repeat(120) },
      write: accepted({ name: '😀'.repeat(120) }),
      read: green,
    },
    {
      label: 'name of 121 characters outside the BMP',
      doc: { name: '😀'.repeat(121) },
      write: rejected('/name', '<= 120'),
      read: red,
    },
    {
      label: 'empty name',
      doc: { name: '' },
      write: rejected('/name', '>= 1'),
      read: red,
    },
    {
      label: 'applies_to of 255 characters outside the BMP',
      doc: { name: 'c', applies_to: '😀'.repeat(255) },
      write: accepted({ applies_to: '😀'.repeat(255) }),
      read: green,
    },
    {
      label: 'ttl above a week',
      doc: { name: 'c', ttl_seconds: 604_801 },
      write: rejected('/ttl_seconds', '<= 604800'),
      read: red,
    },
    {
      label: 'ttl zero',
      doc: { name: 'c', ttl_seconds: 0 },
      write: rejected('/ttl_seconds', '>= 1'),
      read: red,
    },
    {
      label: 'backend enum',
      doc: { name: 'c', backend: 'disk' },
      write: rejected('/backend', 'must be one of'),
      read: red,
    },
    {
      label: 'applies_to other text accepted (behaves as all)',
      doc: { name: 'c', applies_to: 'team:x' },
      write: accepted({ applies_to: 'team:x' }),
      read: green,
    },
    {
      label: 'semantic max_entries default',
      doc: { name: 'c', semantic: { embedding_model: 'e', threshold: 0.9 } },
      write: accepted({ semantic: { embedding_model: 'e', threshold: 0.9, max_entries: 1000 } }),
      read: green,
    },
    {
      label: 'semantic closed',
      doc: { name: 'c', semantic: { embedding_model: 'e', threshold: 0.9, k: 1 } },
      write: rejected('/semantic', 'unknown field "k"'),
      read: yellow('semantic.k'),
    },
    { label: 'root open', doc: { name: 'c', id: 'x' }, write: accepted({}, ['id']), read: yellow('id') },
  ]);
});
