/**
 * Malformed rate limits and cache policies over real HTTP (control-plane §3.0 RateLimit,
 * §3.6 rate_limit_policies, §3.8 cache_policies, §4.2 error format). Every row is one bad
 * document; it must get 400 with exactly `{"error_msg": "schema validation failed at
 * <pointer>: ..."}` naming the field, both as a POST and as a PUT over an existing good row
 * of its kind. The good rows stay byte-for-byte what they were (same revision), nothing new
 * is stored, no submitted value is echoed, and the server keeps serving.
 *
 * `pointer` is the pointer the message reports. For a missing or unknown field, or a rule
 * on a whole object (both/neither of two fields), that is the enclosing object and
 * `mentions` is the field the message must name (the reference reports JSON Schema's
 * `required`/`additionalProperties` failures at the parent too).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminOnStore, arr, embeddedStoreFactory, obj } from './testing/harness.js';

type Kind = 'api_keys' | 'models' | 'rate_limit_policies' | 'cache_policies';
const KINDS: readonly Kind[] = ['api_keys', 'models', 'rate_limit_policies', 'cache_policies'];

interface Case {
  label: string;
  kind: Kind;
  doc: unknown;
  pointer: string;
  mentions?: string;
}

/** Submitted values carry this marker where a leak would matter; no response may echo it. */
const LEAK = 'LEAKME';

// ---------------------------------------------------------------------------------------------
// Documents

const apiKey = (rateLimit: unknown) => ({ allowed_models: ['chat'], rate_limit: rateLimit });
const directModel = (rateLimit: unknown) => ({
  display_name: 'bad-model',
  provider: 'openai',
  model_name: 'gpt-x',
  provider_key_id: 'pk-1',
  rate_limit: rateLimit,
});
const routingModel = (rateLimit: unknown) => ({
  display_name: 'bad-group',
  routing: { targets: [{ model: 'chat' }] },
  rate_limit: rateLimit,
});

const classic = { name: 'p-bad', scope: 'api_key', scope_ref: 'k1', window: 'minute', max_requests: 100 };
const cond = { name: 'c-bad', limits: { rpm: 10 } };
const leaf = (dimension: string, operator: string, value: unknown) => ({ dimension, operator, value });
const okLeaf = leaf('team', '==', 't');
const group = (logic: string, children: unknown[]) => ({ logic, children });
/** A chain of `depth` nested nodes ending in a leaf (depth 1 = a bare leaf). */
const nest = (depth: number): unknown => (depth === 1 ? okLeaf : group('and', [nest(depth - 1)]));
const days = { timezone: 'Europe/Berlin', start_time: '22:00', end_time: '06:00', days_of_week: ['sat'] };
const dated = { timezone: 'UTC', start_time: '00:00', end_time: '24:00', dates: ['2026-02-28'] };
const withSchedule = (s: unknown) => ({ ...cond, schedules: [s] });

function without<T extends Record<string, unknown>>(o: T, ...keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...o };
  for (const k of keys) delete out[k];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cases

/** [label, rate_limit value, pointer below /rate_limit, mentions] */
const BAD_RATE_LIMITS: [string, unknown, string, string?][] = [
  ['rpm negative', { rpm: -1 }, '/rpm'],
  ['rps fractional', { rps: 1.5 }, '/rps'],
  ['rph a string', { rph: '10' }, '/rph'],
  ['rpd null', { rpd: null }, '/rpd'],
  ['tpm a boolean', { tpm: true }, '/tpm'],
  ['tpd negative', { tpd: -5 }, '/tpd'],
  ['concurrency above u32', { concurrency: 4_294_967_296 }, '/concurrency'],
  ['concurrency negative', { concurrency: -1 }, '/concurrency'],
  ['a bad field after good ones', { rps: 1, rpm: 60, tpm: LEAK }, '/tpm'],
  ['unknown field', { rpm: 1, burst: 5 }, '', '"burst"'],
  ['an array', [], ''],
  ['a number', 60, ''],
  ['a string', LEAK, ''],
];

const inlineCases: Case[] = BAD_RATE_LIMITS.flatMap(([label, rl, ptr, mentions]) => [
  {
    label: `api key rate_limit: ${label}`,
    kind: 'api_keys',
    doc: apiKey(rl),
    pointer: `/rate_limit${ptr}`,
    mentions,
  },
  {
    label: `model rate_limit: ${label}`,
    kind: 'models',
    doc: directModel(rl),
    pointer: `/rate_limit${ptr}`,
    mentions,
  },
]);
inlineCases.push(
  {
    label: 'routing model rate_limit: rpm negative',
    kind: 'models',
    doc: routingModel({ rpm: -1 }),
    pointer: '/rate_limit/rpm',
  },
  {
    label: 'routing model rate_limit: unknown field',
    kind: 'models',
    doc: routingModel({ rpx: 1 }),
    pointer: '/rate_limit',
    mentions: '"rpx"',
  },
);

const P = 'rate_limit_policies' as const;
const policy = (label: string, doc: unknown, pointer: string, mentions?: string): Case => ({
  label,
  kind: P,
  doc,
  pointer,
  ...(mentions === undefined ? {} : { mentions }),
});

const classicCases: Case[] = [
  policy('classic: name missing', without(classic, 'name'), '', '"name"'),
  policy('classic: name empty', { ...classic, name: '' }, '/name'),
  policy('classic: name a number', { ...classic, name: 7 }, '/name'),
  policy('classic: scope missing', without(classic, 'scope'), '', '"scope"'),
  policy('classic: scope not in the enum', { ...classic, scope: `${LEAK}-org` }, '/scope', 'must be one of'),
  policy('classic: scope "global"', { ...classic, scope: 'global' }, '/scope'),
  policy('classic: scope_ref missing', without(classic, 'scope_ref'), '', '"scope_ref"'),
  policy('classic: scope_ref empty', { ...classic, scope_ref: '' }, '/scope_ref'),
  policy('classic: scope_ref a number', { ...classic, scope_ref: 5 }, '/scope_ref'),
  policy('classic: window missing', without(classic, 'window'), '', '"window"'),
  policy('classic: window "day"', { ...classic, window: 'day' }, '/window', 'must be one of'),
  policy('classic: window capitalised', { ...classic, window: 'Minute' }, '/window'),
  policy('classic: max_requests 0', { ...classic, max_requests: 0 }, '/max_requests', '>= 1'),
  policy('classic: max_requests negative', { ...classic, max_requests: -1 }, '/max_requests'),
  policy('classic: max_requests fractional', { ...classic, max_requests: 1.5 }, '/max_requests', 'integer'),
  policy('classic: max_requests a string', { ...classic, max_requests: '100' }, '/max_requests'),
  policy('classic: max_tokens 0', { ...without(classic, 'max_requests'), max_tokens: 0 }, '/max_tokens'),
  policy('classic: max_tokens 0 next to a good max_requests', { ...classic, max_tokens: 0 }, '/max_tokens'),
  policy(
    'classic: neither max_requests nor max_tokens',
    without(classic, 'max_requests'),
    '',
    '"max_requests" or "max_tokens"',
  ),
  policy('classic: unknown field', { ...classic, burst: 5 }, '', 'unknown field "burst"'),
  policy('classic: schedules not an array', { ...classic, schedules: days }, '/schedules'),
  policy(
    'classic: bad schedule timezone',
    { ...classic, schedules: [{ ...days, timezone: 'Mars/Olympus' }] },
    '/schedules/0/timezone',
    'IANA',
  ),
];

const MIXED = 'not both';
const mixedCases: Case[] = [
  policy('mixed: classic + limits', { ...classic, limits: { rpm: 1 } }, '', MIXED),
  policy('mixed: classic + conditions', { ...classic, conditions: [okLeaf] }, '', MIXED),
  policy('mixed: classic + empty conditions', { ...classic, conditions: [] }, '', MIXED),
  policy('mixed: classic + group_by', { ...classic, group_by: ['team'] }, '', MIXED),
  policy('mixed: classic + action', { ...classic, action: 'reject' }, '', MIXED),
  policy('mixed: conditional + window', { ...cond, window: 'minute' }, '', MIXED),
  policy('mixed: conditional + scope/scope_ref', { ...cond, scope: 'team', scope_ref: 't' }, '', MIXED),
  policy('mixed: conditional + max_requests', { ...cond, max_requests: 5 }, '', MIXED),
];

const limitsCases: Case[] = [
  policy('conditional: limits missing', { name: 'c', conditions: [okLeaf] }, '', '"limits"'),
  policy('conditional: limits with no field', { ...cond, limits: {} }, '/limits', 'at least one'),
  policy('conditional: limits rpm negative', { ...cond, limits: { rpm: -1 } }, '/limits/rpm'),
  policy('conditional: limits tpm fractional', { ...cond, limits: { tpm: 0.5 } }, '/limits/tpm'),
  policy(
    'conditional: limits concurrency above u32',
    { ...cond, limits: { concurrency: 4_294_967_296 } },
    '/limits/concurrency',
  ),
  policy(
    'conditional: limits unknown field',
    { ...cond, limits: { rpm: 1, burst: 2 } },
    '/limits',
    '"burst"',
  ),
  policy('conditional: limits an array', { ...cond, limits: [] }, '/limits'),
  policy('conditional: name missing', without(cond, 'name'), '', '"name"'),
  policy('conditional: name empty', { ...cond, name: '' }, '/name'),
  policy('conditional: unknown field', { ...cond, priority: 1 }, '', 'unknown field "priority"'),
];

const RESERVED = ['has', '>', '>=', '<', '<=', 'ipmatch'];
const conditionCases: Case[] = [
  policy('conditions: not an array', { ...cond, conditions: okLeaf }, '/conditions'),
  policy(
    'conditions: unknown dimension',
    { ...cond, conditions: [leaf('user', '==', 'u')] },
    '/conditions/0/dimension',
    'must be one of',
  ),
  policy(
    'conditions: dimension capitalised',
    { ...cond, conditions: [leaf('Team', '==', 't')] },
    '/conditions/0/dimension',
  ),
  policy(
    'conditions: dimension missing',
    { ...cond, conditions: [{ operator: '==', value: 't' }] },
    '/conditions/0',
    '"dimension"',
  ),
  ...RESERVED.map((op) =>
    policy(
      `conditions: reserved operator ${op}`,
      { ...cond, conditions: [leaf('team', op, '1')] },
      '/conditions/0/operator',
      'reserved',
    ),
  ),
  policy(
    'conditions: unknown operator =~',
    { ...cond, conditions: [leaf('team', '=~', 'x')] },
    '/conditions/0/operator',
    // Only the supported operators: the reserved ones are not offered as a fix.
    'must be one of ("==" | "~=" | "in" | "~~" | "~*")',
  ),
  policy(
    'conditions: unknown operator !=',
    { ...cond, conditions: [okLeaf, leaf('model', '!=', 'x')] },
    '/conditions/1/operator',
    'must be one of ("==" | "~=" | "in" | "~~" | "~*")',
  ),
  policy(
    'conditions: operator missing',
    { ...cond, conditions: [{ dimension: 'team', value: 't' }] },
    '/conditions/0',
    '"operator"',
  ),
  ...(['team', 'member', 'api_key', 'model'] as const).flatMap((d) =>
    ['~~', '~*'].map((op) =>
      policy(
        `conditions: regex ${op} on identity dimension ${d}`,
        { ...cond, conditions: [leaf(d, op, '^x')] },
        '/conditions/0/operator',
        'model_name and provider',
      ),
    ),
  ),
  policy(
    'conditions: regex on a non-string dimension inside a group',
    { ...cond, conditions: [group('and', [okLeaf, leaf('model', '~*', 'x')])] },
    '/conditions/0/children/1/operator',
    'model_name and provider',
  ),
  policy(
    'conditions: in with 0 values',
    { ...cond, conditions: [leaf('team', 'in', [])] },
    '/conditions/0/value',
    '1..64',
  ),
  policy(
    'conditions: in with 65 values',
    {
      ...cond,
      conditions: [
        leaf(
          'team',
          'in',
          Array.from({ length: 65 }, (_, i) => `t${i}`),
        ),
      ],
    },
    '/conditions/0/value',
    '1..64',
  ),
  policy(
    'conditions: in with an empty string',
    { ...cond, conditions: [leaf('model', 'in', ['a', ''])] },
    '/conditions/0/value',
    'non-empty',
  ),
  policy(
    'conditions: in with a single string',
    { ...cond, conditions: [leaf('team', 'in', 't')] },
    '/conditions/0/value',
    '1..64',
  ),
  policy(
    'conditions: in with a number in the list',
    { ...cond, conditions: [leaf('team', 'in', ['a', 1])] },
    '/conditions/0/value',
  ),
  policy(
    'conditions: == with an empty string',
    { ...cond, conditions: [leaf('team', '==', '')] },
    '/conditions/0/value',
    'non-empty',
  ),
  policy(
    'conditions: ~= with a list',
    { ...cond, conditions: [leaf('team', '~=', ['t'])] },
    '/conditions/0/value',
    'one non-empty string',
  ),
  policy(
    'conditions: ~~ with an empty string',
    { ...cond, conditions: [leaf('model_name', '~~', '')] },
    '/conditions/0/value',
  ),
  policy(
    'conditions: value a number',
    { ...cond, conditions: [leaf('team', '==', 5)] },
    '/conditions/0/value',
  ),
  policy(
    'conditions: value missing',
    { ...cond, conditions: [{ dimension: 'team', operator: '==' }] },
    '/conditions/0',
    '"value"',
  ),
  policy(
    'conditions: regex does not compile (unclosed group)',
    { ...cond, conditions: [leaf('model_name', '~~', `(${LEAK}`)] },
    '/conditions/0/value',
    'compile',
  ),
  policy(
    'conditions: regex does not compile (unclosed class, ~*)',
    { ...cond, conditions: [leaf('provider', '~*', '[a-')] },
    '/conditions/0/value',
    'compile',
  ),
  policy(
    'conditions: regex does not compile (nothing to repeat)',
    { ...cond, conditions: [okLeaf, leaf('model_name', '~~', 'a**')] },
    '/conditions/1/value',
    'compile',
  ),
  // Valid for a JS RegExp, not for RE2 (the linear-time engine conditions run on).
  policy(
    'conditions: regex with a backreference',
    { ...cond, conditions: [leaf('model_name', '~~', '^(a+)\\1$')] },
    '/conditions/0/value',
    'RE2 syntax',
  ),
  policy(
    'conditions: regex with a lookahead (~*)',
    { ...cond, conditions: [leaf('provider', '~*', '^(?!azure)')] },
    '/conditions/0/value',
    'RE2 syntax',
  ),
  policy(
    'conditions: regex of 257 chars',
    { ...cond, conditions: [leaf('model_name', '~~', 'a'.repeat(257))] },
    '/conditions/0/value',
    '256',
  ),
  policy(
    'conditions: negate not a boolean',
    { ...cond, conditions: [{ ...okLeaf, negate: 'yes' }] },
    '/conditions/0/negate',
  ),
  policy(
    'conditions: unknown field in a leaf',
    { ...cond, conditions: [{ ...okLeaf, weight: 1 }] },
    '/conditions/0',
    'unknown field "weight"',
  ),
  policy(
    'conditions: group logic xor',
    { ...cond, conditions: [group('xor', [okLeaf])] },
    '/conditions/0/logic',
    'must be one of',
  ),
  policy(
    'conditions: group logic missing',
    { ...cond, conditions: [{ children: [okLeaf] }] },
    '/conditions/0',
    '"logic"',
  ),
  policy(
    'conditions: group with no children',
    { ...cond, conditions: [group('or', [])] },
    '/conditions/0/children',
    'length',
  ),
  policy(
    'conditions: group children not an array',
    { ...cond, conditions: [group('or', okLeaf as unknown as unknown[])] },
    '/conditions/0/children',
  ),
  policy(
    'conditions: unknown field in a group',
    { ...cond, conditions: [{ ...group('and', [okLeaf]), dimension: 'team' }] },
    '/conditions/0',
    'unknown field "dimension"',
  ),
  policy(
    'conditions: depth 4',
    { ...cond, conditions: [nest(4)] },
    '/conditions/0/children/0/children/0/children/0',
    'deeper than 3',
  ),
  policy(
    'conditions: depth 4 in a later branch',
    {
      ...cond,
      conditions: [okLeaf, group('and', [okLeaf, group('or', [group('and', [okLeaf])])])],
    },
    '/conditions/1/children/1/children/0/children/0',
    'deeper than 3',
  ),
  policy(
    'conditions: reserved operator at depth 3',
    { ...cond, conditions: [group('and', [okLeaf, group('or', [okLeaf, leaf('team', 'has', 'x')])])] },
    '/conditions/0/children/1/children/1/operator',
    'reserved',
  ),
  policy(
    'conditions: 17 leaves at the top level',
    { ...cond, conditions: Array.from({ length: 17 }, () => okLeaf) },
    '/conditions/16',
    'more than 16',
  ),
  policy(
    'conditions: 17 leaves across two groups',
    {
      ...cond,
      conditions: [
        group(
          'and',
          Array.from({ length: 9 }, () => okLeaf),
        ),
        group(
          'or',
          Array.from({ length: 8 }, () => okLeaf),
        ),
      ],
    },
    '/conditions/1/children/7',
    'more than 16',
  ),
];

const groupActionCases: Case[] = [
  policy('group_by: unknown dimension', { ...cond, group_by: ['user'] }, '/group_by/0', 'must be one of'),
  policy(
    'group_by: model_name is not a group dimension',
    { ...cond, group_by: ['model_name'] },
    '/group_by/0',
  ),
  policy('group_by: repeated', { ...cond, group_by: ['team', 'model', 'team'] }, '/group_by', 'repeat'),
  policy('group_by: not an array', { ...cond, group_by: 'team' }, '/group_by'),
  policy('action: throttle', { ...cond, action: 'throttle' }, '/action', 'must be one of'),
  policy('action: upper case', { ...cond, action: 'REJECT' }, '/action'),
  policy('action: a status code', { ...cond, action: 429 }, '/action'),
];

const scheduleCases: Case[] = [
  policy('schedules: not an array', { ...cond, schedules: days }, '/schedules'),
  policy('schedules: an item not an object', { ...cond, schedules: ['22:00-06:00'] }, '/schedules/0'),
  policy(
    'schedules: timezone missing',
    withSchedule(without(days, 'timezone')),
    '/schedules/0',
    '"timezone"',
  ),
  policy('schedules: timezone empty', withSchedule({ ...days, timezone: '' }), '/schedules/0/timezone'),
  policy(
    'schedules: timezone unknown',
    withSchedule({ ...days, timezone: `${LEAK}/Nowhere` }),
    '/schedules/0/timezone',
    'IANA',
  ),
  policy(
    'schedules: timezone a raw offset',
    withSchedule({ ...days, timezone: '+02:00' }),
    '/schedules/0/timezone',
    'IANA',
  ),
  policy('schedules: timezone UTC+2', withSchedule({ ...days, timezone: 'UTC+2' }), '/schedules/0/timezone'),
  policy(
    'schedules: timezone with a space',
    withSchedule({ ...days, timezone: 'America/New York' }),
    '/schedules/0/timezone',
  ),
  policy('schedules: timezone a number', withSchedule({ ...days, timezone: 1 }), '/schedules/0/timezone'),
  policy(
    'schedules: start_time missing',
    withSchedule(without(days, 'start_time')),
    '/schedules/0',
    '"start_time"',
  ),
  policy(
    'schedules: start_time H:MM',
    withSchedule({ ...days, start_time: '9:00' }),
    '/schedules/0/start_time',
  ),
  policy(
    'schedules: start_time minute 60',
    withSchedule({ ...days, start_time: '09:60' }),
    '/schedules/0/start_time',
  ),
  policy(
    'schedules: start_time 24:00',
    withSchedule({ ...days, start_time: '24:00' }),
    '/schedules/0/start_time',
  ),
  policy(
    'schedules: start_time HHMM',
    withSchedule({ ...days, start_time: '0900' }),
    '/schedules/0/start_time',
  ),
  policy(
    'schedules: start_time with seconds',
    withSchedule({ ...days, start_time: '09:00:00' }),
    '/schedules/0/start_time',
  ),
  policy(
    'schedules: end_time missing',
    withSchedule(without(days, 'end_time')),
    '/schedules/0',
    '"end_time"',
  ),
  policy('schedules: end_time 24:01', withSchedule({ ...days, end_time: '24:01' }), '/schedules/0/end_time'),
  policy('schedules: end_time 25:00', withSchedule({ ...days, end_time: '25:00' }), '/schedules/0/end_time'),
  policy('schedules: end_time words', withSchedule({ ...days, end_time: 'noon' }), '/schedules/0/end_time'),
  policy(
    'schedules: both days_of_week and dates',
    withSchedule({ ...days, dates: ['2026-01-01'] }),
    '/schedules/0',
    'exactly one',
  ),
  policy(
    'schedules: neither days_of_week nor dates',
    withSchedule(without(days, 'days_of_week')),
    '/schedules/0',
    'exactly one',
  ),
  policy(
    'schedules: days_of_week empty',
    withSchedule({ ...days, days_of_week: [] }),
    '/schedules/0/days_of_week',
  ),
  policy(
    'schedules: day name spelled out',
    withSchedule({ ...days, days_of_week: ['sat', 'monday'] }),
    '/schedules/0/days_of_week/1',
    'must be one of',
  ),
  policy(
    'schedules: day name capitalised',
    withSchedule({ ...days, days_of_week: ['Mon'] }),
    '/schedules/0/days_of_week/0',
  ),
  policy(
    'schedules: day as a number',
    withSchedule({ ...days, days_of_week: [1] }),
    '/schedules/0/days_of_week/0',
  ),
  policy('schedules: dates empty', withSchedule({ ...dated, dates: [] }), '/schedules/0/dates'),
  policy(
    'schedules: impossible date 2026-02-30',
    withSchedule({ ...dated, dates: ['2026-02-28', '2026-02-30'] }),
    '/schedules/0/dates/1',
    'YYYY-MM-DD',
  ),
  policy(
    'schedules: 2025-02-29 (not a leap year)',
    withSchedule({ ...dated, dates: ['2025-02-29'] }),
    '/schedules/0/dates/0',
  ),
  policy('schedules: month 13', withSchedule({ ...dated, dates: ['2026-13-01'] }), '/schedules/0/dates/0'),
  policy('schedules: slashes', withSchedule({ ...dated, dates: ['2026/01/01'] }), '/schedules/0/dates/0'),
  policy(
    'schedules: a datetime',
    withSchedule({ ...dated, dates: ['2026-01-01T00:00:00Z'] }),
    '/schedules/0/dates/0',
  ),
  policy(
    'schedules: unknown field',
    withSchedule({ ...days, every: 'week' }),
    '/schedules/0',
    'unknown field "every"',
  ),
  policy(
    'schedules: the second schedule is bad',
    { ...cond, schedules: [days, { ...days, end_time: '24:30' }] },
    '/schedules/1/end_time',
  ),
  policy(
    'schedules: on a classic policy',
    { ...classic, schedules: [{ ...dated, dates: ['2026-04-31'] }] },
    '/schedules/0/dates/0',
  ),
];

const C = 'cache_policies' as const;
const cache = (label: string, doc: unknown, pointer: string, mentions?: string): Case => ({
  label,
  kind: C,
  doc,
  pointer,
  ...(mentions === undefined ? {} : { mentions }),
});
const sem = { embedding_model: 'embed', threshold: 0.9 };
const cacheCases: Case[] = [
  cache('name missing', { ttl_seconds: 60 }, '', '"name"'),
  cache('name empty', { name: '' }, '/name', '>= 1'),
  cache('name 121 chars', { name: `${LEAK}${'n'.repeat(115)}` }, '/name', '<= 120'),
  cache('name a number', { name: 120 }, '/name'),
  cache('ttl_seconds 0', { name: 'c', ttl_seconds: 0 }, '/ttl_seconds', '>= 1'),
  cache('ttl_seconds negative', { name: 'c', ttl_seconds: -60 }, '/ttl_seconds'),
  cache('ttl_seconds 604801', { name: 'c', ttl_seconds: 604_801 }, '/ttl_seconds', '<= 604800'),
  cache('ttl_seconds fractional', { name: 'c', ttl_seconds: 1.5 }, '/ttl_seconds', 'integer'),
  cache('ttl_seconds a string', { name: 'c', ttl_seconds: '3600' }, '/ttl_seconds'),
  cache('backend not in the enum', { name: 'c', backend: `${LEAK}disk` }, '/backend', 'must be one of'),
  cache('backend capitalised', { name: 'c', backend: 'Redis' }, '/backend'),
  cache('scope not in the enum', { name: 'c', scope: 'global' }, '/scope', 'must be one of'),
  cache('scope a rate-limit scope', { name: 'c', scope: 'team' }, '/scope'),
  cache('purge_generation negative', { name: 'c', purge_generation: -1 }, '/purge_generation', '>= 0'),
  cache('purge_generation above u32', { name: 'c', purge_generation: 4_294_967_296 }, '/purge_generation'),
  cache('purge_generation fractional', { name: 'c', purge_generation: 0.5 }, '/purge_generation'),
  cache('applies_to empty', { name: 'c', applies_to: '' }, '/applies_to', '>= 1'),
  cache(
    'applies_to 256 chars',
    { name: 'c', applies_to: `model:${'m'.repeat(250)}` },
    '/applies_to',
    '<= 255',
  ),
  cache('applies_to a list', { name: 'c', applies_to: ['all'] }, '/applies_to'),
  cache('enabled a string', { name: 'c', enabled: 'yes' }, '/enabled'),
  cache('semantic not an object', { name: 'c', semantic: 'embed' }, '/semantic'),
  cache(
    'semantic without embedding_model',
    { name: 'c', semantic: { threshold: 0.9 } },
    '/semantic',
    '"embedding_model"',
  ),
  cache(
    'semantic embedding_model empty',
    { name: 'c', semantic: { ...sem, embedding_model: '' } },
    '/semantic/embedding_model',
  ),
  cache(
    'semantic without threshold',
    { name: 'c', semantic: { embedding_model: 'e' } },
    '/semantic',
    '"threshold"',
  ),
  cache(
    'semantic threshold above 1',
    { name: 'c', semantic: { ...sem, threshold: 1.01 } },
    '/semantic/threshold',
    '<= 1',
  ),
  cache(
    'semantic threshold below 0',
    { name: 'c', semantic: { ...sem, threshold: -0.1 } },
    '/semantic/threshold',
    '>= 0',
  ),
  cache(
    'semantic threshold a string',
    { name: 'c', semantic: { ...sem, threshold: '0.9' } },
    '/semantic/threshold',
  ),
  cache(
    'semantic max_entries 0',
    { name: 'c', semantic: { ...sem, max_entries: 0 } },
    '/semantic/max_entries',
    '>= 1',
  ),
  cache(
    'semantic max_entries 10001',
    { name: 'c', semantic: { ...sem, max_entries: 10_001 } },
    '/semantic/max_entries',
    '<= 10000',
  ),
  cache(
    'semantic max_entries fractional',
    { name: 'c', semantic: { ...sem, max_entries: 2.5 } },
    '/semantic/max_entries',
  ),
  cache(
    'semantic embedding_timeout_ms negative',
    { name: 'c', semantic: { ...sem, embedding_timeout_ms: -1 } },
    '/semantic/embedding_timeout_ms',
  ),
  cache(
    'semantic unknown field',
    { name: 'c', semantic: { ...sem, distance_metric: 'cosine' } },
    '/semantic',
    'unknown field "distance_metric"',
  ),
];

const TABLES: [string, Case[]][] = [
  ['inline rate_limit (api_keys, models)', inlineCases],
  ['rate_limit_policies: classic form', classicCases],
  ['rate_limit_policies: mixed forms', mixedCases],
  ['rate_limit_policies: conditional limits', limitsCases],
  ['rate_limit_policies: condition trees', conditionCases],
  ['rate_limit_policies: group_by and action', groupActionCases],
  ['rate_limit_policies: schedules', scheduleCases],
  ['cache_policies', cacheCases],
];

// ---------------------------------------------------------------------------------------------
// The run

/**
 * One good row per kind (two policies: one of each form; two models: the chat model and the
 * embedding model the semantic cache policy names), written in order before the tables run,
 * after the provider key the models reference (writes must reference what exists).
 */
const good = (pkId: string): [Kind, Record<string, unknown>][] => [
  [
    'models',
    {
      display_name: 'chat',
      provider: 'openai',
      model_name: 'gpt-x',
      provider_key_id: pkId,
      rate_limit: { rpm: 10 },
    },
  ],
  [
    'models',
    {
      display_name: 'embed',
      provider: 'openai',
      model_name: 'e',
      provider_key_id: pkId,
      embedding: { dimensions: 8 },
    },
  ],
  ['api_keys', { allowed_models: ['chat'], rate_limit: { rpm: 5, tpm: 1000, concurrency: 2 } }],
  [
    'rate_limit_policies',
    { name: 'classic-good', scope: 'team', scope_ref: 't1', window: 'hour', max_tokens: 500 },
  ],
  [
    'rate_limit_policies',
    {
      name: 'conditional-good',
      limits: { rph: 100 },
      conditions: [group('or', [leaf('model_name', '~*', '^gpt-'), leaf('team', 'in', ['a', 'b'])])],
      group_by: ['api_key'],
      action: 'reject',
      schedules: [days],
    },
  ],
  ['cache_policies', { name: 'cache-good', ttl_seconds: 60, backend: 'memory', scope: 'env', semantic: sem }],
];

let pkId: string;
/** The GET body of every good row, by kind. */
const baseline = new Map<Kind, { id: string; json: unknown }[]>();

function assertNamesPointer(
  r: { status: number; text: string; json: unknown; headers: Headers },
  c: Case,
): void {
  assert.equal(r.status, 400, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  const body = obj(r.json);
  assert.deepEqual(Object.keys(body), ['error_msg'], r.text);
  const msg = String(body.error_msg);
  const head = `schema validation failed at ${c.pointer}: `;
  assert.ok(msg.startsWith(head), `expected "${head}...", got "${msg}"`);
  if (c.mentions !== undefined) assert.ok(msg.includes(c.mentions), `"${msg}" should mention ${c.mentions}`);
  assert.ok(!r.text.includes(LEAK), `the response echoes a submitted value: ${r.text}`);
}

const s = adminOnStore(embeddedStoreFactory, {}, async () => {
  const pk = await s.admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'pk', provider: 'openai', api_key: 'sk-test' },
  });
  assert.equal(pk.status, 200, pk.text);
  pkId = String(obj(pk.json).id);
  for (const [kind, doc] of good(pkId)) {
    const r = await s.admin.call('POST', `/admin/v1/${kind}`, { body: doc });
    assert.equal(r.status, 200, `${kind}: ${r.text}`);
    const id = String(obj(r.json).id);
    const got = await s.admin.call('GET', `/admin/v1/${kind}/${id}`);
    assert.equal(got.status, 200);
    baseline.set(kind, [...(baseline.get(kind) ?? []), { id, json: got.json }]);
  }
});

for (const [title, cases] of TABLES) {
  describe(title, () => {
    for (const c of cases) {
      it(`${c.kind}: ${c.label} -> 400 at ${c.pointer || '(root)'}`, async () => {
        assertNamesPointer(await s.admin.call('POST', `/admin/v1/${c.kind}`, { body: c.doc }), c);
        for (const good of baseline.get(c.kind) ?? []) {
          const put = await s.admin.call('PUT', `/admin/v1/${c.kind}/${good.id}`, { body: c.doc });
          assertNamesPointer(put, c);
          const after = await s.admin.call('GET', `/admin/v1/${c.kind}/${good.id}`);
          assert.equal(after.status, 200);
          assert.deepEqual(after.json, good.json, 'the PUT changed the stored row');
        }
      });
    }
  });
}

describe('after every bad request', () => {
  it('the tables cover the promised cases', () => {
    const total = TABLES.reduce((n, [, cs]) => n + cs.length, 0);
    assert.ok(total >= 150, `only ${total} cases`);
    const labels = TABLES.flatMap(([, cs]) => cs.map((c) => `${c.kind}: ${c.label}`));
    assert.equal(new Set(labels).size, labels.length, 'case labels are unique');
  });

  it('nothing was stored and the good rows are unchanged', async () => {
    for (const kind of KINDS) {
      const want = baseline.get(kind) ?? [];
      assert.equal(await s.h.rawCount(kind), want.length, `${kind} in the store`);
      const list = arr((await s.admin.call('GET', `/admin/v1/${kind}`)).json);
      assert.deepEqual(
        [...list].sort((a, b) => String(obj(a).id).localeCompare(String(obj(b).id))),
        want.map((w) => w.json).sort((a, b) => String(obj(a).id).localeCompare(String(obj(b).id))),
        `${kind} list`,
      );
    }
    assert.ok(!s.admin.bodies.some((b) => b.includes(LEAK)), 'no response echoed a submitted value');
  });

  it('the server keeps serving: good writes of every kind still succeed', async () => {
    const keyId = baseline.get('api_keys')?.[0]?.id;
    const fresh: [Kind, unknown][] = [
      ['api_keys', apiKey({ rps: 1 })],
      ['models', { ...directModel({ tpd: 0 }), provider_key_id: pkId }],
      ['rate_limit_policies', { ...classic, scope_ref: keyId, schedules: [dated] }],
      ['rate_limit_policies', { ...cond, name: 'c-good-2', conditions: [nest(3)], group_by: ['team'] }],
      [
        'cache_policies',
        { name: 'c', ttl_seconds: 604_800, applies_to: 'model:chat', purge_generation: 4_294_967_295 },
      ],
    ];
    for (const [kind, doc] of fresh) {
      const r = await s.admin.call('POST', `/admin/v1/${kind}`, { body: doc });
      assert.equal(r.status, 200, `${kind}: ${r.text}`);
      const id = String(obj(r.json).id);
      assert.equal((await s.admin.call('DELETE', `/admin/v1/${kind}/${id}`)).status, 200);
    }
    for (const kind of KINDS) assert.equal(await s.h.rawCount(kind), baseline.get(kind)?.length ?? 0);
  });
});
