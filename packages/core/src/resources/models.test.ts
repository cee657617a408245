// Characterization tables for models (strict write, lenient read).
import { describe } from 'node:test';
import { accepted, green, red, rejected, runTable, yellow } from './characterize.test-support.js';

const direct = { display_name: 'gpt-4o', provider: 'openai', model_name: 'gpt-4o', provider_key_id: 'pk-1' };
const routing = { display_name: 'group', routing: { targets: [{ model: 'gpt-4o' }] } };

describe('models', () => {
  runTable('models', [
    { label: 'direct shape', doc: direct, write: accepted(direct), read: green },
    {
      label: 'routing shape fills routing defaults',
      doc: routing,
      write: accepted({
        routing: {
          targets: [{ model: 'gpt-4o', weight: 1 }],
          strategy: 'failover',
          retry_on_429: false,
          when_all_unavailable: 'fail',
          sticky: false,
        },
      }),
      read: green,
    },
    {
      label: 'ensemble shape',
      doc: {
        display_name: 'e',
        ensemble: { panel: [{ model: 'a' }, { model: 'b' }], judge: { model: 'j' } },
      },
      write: accepted(),
      read: green,
    },
    {
      label: 'semantic shape fills match and failure defaults',
      doc: {
        display_name: 's',
        semantic: { match: { threshold: 0.8 }, routes: [{ name: 'r', target: 'a', examples: ['hi'] }] },
      },
      write: accepted({
        semantic: {
          match: { threshold: 0.8, distance_metric: 'cosine', aggregation: 'max' },
          routes: [{ name: 'r', target: 'a', examples: ['hi'] }],
          on_embedding_failure: 'default',
        },
      }),
      read: green,
    },
    {
      label: 'direct without provider_key_id matches no shape',
      doc: { display_name: 'x', provider: 'openai', model_name: 'gpt' },
      write: rejected('', 'provider_key_id'),
      read: red,
    },
    {
      label: 'routing with provider is not one shape',
      doc: { ...routing, provider: 'openai' },
      write: rejected('', 'must not have "provider"'),
      read: red,
    },
    {
      label: 'routing with cooldown is not one shape',
      doc: { ...routing, cooldown: {} },
      write: rejected('', 'cooldown'),
      read: red,
    },
    {
      label: 'routing and ensemble together',
      doc: { ...routing, ensemble: { panel: [{ model: 'a' }], judge: { model: 'j' } } },
      write: rejected('', 'mutually exclusive'),
      read: red,
    },
    {
      label: 'missing display_name',
      doc: { provider: 'openai', model_name: 'gpt-4o', provider_key_id: 'pk-1' },
      write: rejected('', '"display_name" is a required property'),
      read: red,
    },
    {
      label: 'empty display_name',
      doc: { ...direct, display_name: '' },
      write: rejected('/display_name', 'length'),
      read: red,
    },
    {
      label: 'provider violates pattern',
      doc: { ...direct, provider: 'OpenAI' },
      write: rejected('/provider', 'pattern'),
      read: red,
    },
    {
      label: 'provider longer than 64',
      doc: { ...direct, provider: 'a'.repeat(65) },
      write: rejected('/provider', '<= 64'),
      read: red,
    },
    {
      label: 'negative timeout',
      doc: { ...direct, timeout: -1 },
      write: rejected('/timeout', '>= 0'),
      read: red,
    },
    {
      label: 'fractional retries',
      doc: { ...direct, retries: 1.5 },
      write: rejected('/retries', 'integer'),
      read: red,
    },
    {
      label: 'timeout 0 (no deadline) accepted',
      doc: { ...direct, timeout: 0 },
      write: accepted({ timeout: 0 }),
      read: green,
    },
    {
      label: 'cooldown defaults filled',
      doc: { ...direct, cooldown: {} },
      write: accepted({
        cooldown: {
          enabled: true,
          default_seconds: 30,
          max_seconds: 600,
          honor_retry_after: true,
          trigger_statuses: [401, 408, 429, 500, 502, 503, 504],
          trigger_on_timeout: true,
          trigger_on_transport: true,
        },
      }),
      read: green,
    },
    {
      label: 'background_model_check interval below 5',
      doc: {
        ...direct,
        background_model_check: {
          enabled: true,
          interval_seconds: 4,
          timeout_seconds: 1,
          prompt: 'hi',
          max_tokens: 1,
          stale_after_seconds: 1,
        },
      },
      write: rejected('/background_model_check/interval_seconds', '>= 5'),
      read: red,
    },
    {
      label: 'cooldown trigger status out of range',
      doc: { ...direct, cooldown: { trigger_statuses: [99] } },
      write: rejected('/cooldown/trigger_statuses/0', '>= 100'),
      read: red,
    },
    {
      label: 'auto_prompt_caching ttl default 5m',
      doc: { ...direct, auto_prompt_caching: { enabled: true } },
      write: accepted({ auto_prompt_caching: { enabled: true, ttl: '5m' } }),
      read: green,
    },
    {
      label: 'cost requires both prices',
      doc: { ...direct, cost: { input_per_1k: 1 } },
      write: rejected('/cost', '"output_per_1k"'),
      read: red,
    },
    {
      label: 'embedding defaults normalize',
      doc: { ...direct, embedding: { dimensions: 8 } },
      write: accepted({ embedding: { dimensions: 8, normalize: true } }),
      read: green,
    },
    {
      label: 'routing with no targets',
      doc: { display_name: 'g', routing: { targets: [] } },
      write: rejected('/routing/targets', 'length'),
      read: red,
    },
    {
      label: 'unknown routing strategy',
      doc: { display_name: 'g', routing: { targets: [{ model: 'a' }], strategy: 'random' } },
      write: rejected('/routing/strategy', 'must be one of'),
      read: red,
    },
    {
      label: 'semantic threshold above 1',
      doc: {
        display_name: 's',
        semantic: { match: { threshold: 1.5 }, routes: [{ name: 'r', target: 'a', examples: ['x'] }] },
      },
      write: rejected('/semantic/match/threshold', '<= 1'),
      read: red,
    },
    {
      label: 'on_embedding_failure target object',
      doc: {
        display_name: 's',
        semantic: {
          match: { threshold: 0.5 },
          routes: [{ name: 'r', target: 'a', examples: ['x'] }],
          on_embedding_failure: { target: 'b' },
        },
      },
      write: accepted(),
      read: green,
    },
    {
      label: 'client id is an unknown field',
      doc: { ...direct, id: 'abc' },
      write: rejected('', 'unknown field "id"'),
      read: yellow('id'),
    },
    {
      label: 'nested unknown field, indices as []',
      doc: {
        ...routing,
        routing: {
          targets: [
            { model: 'a', x: 1 },
            { model: 'b', x: 2 },
          ],
        },
      },
      write: rejected('/routing/targets/0', 'unknown field "x"'),
      read: yellow('routing.targets[].x'),
    },
    {
      label: 'rate_limit rejects unknown fields',
      doc: { ...direct, rate_limit: { rpm: 1, rpw: 2 } },
      write: rejected('/rate_limit', 'unknown field "rpw"'),
      read: yellow('rate_limit.rpw'),
    },
    {
      label: 'rate_limit negative',
      doc: { ...direct, rate_limit: { rps: -1 } },
      write: rejected('/rate_limit/rps', '>= 0'),
      read: red,
    },
    {
      label: 'rate_limit zero allowed',
      doc: { ...direct, rate_limit: { rps: 0, concurrency: 0 } },
      write: accepted({ rate_limit: { rps: 0, concurrency: 0 } }),
      read: green,
    },
    {
      label: 'rate_limit concurrency above u32',
      doc: { ...direct, rate_limit: { concurrency: 4_294_967_296 } },
      write: rejected('/rate_limit/concurrency', '<='),
      read: red,
    },
    { label: 'not an object', doc: ['x'], write: rejected('', 'expected Object'), read: red },
  ]);
});
