// Characterization tables for rate_limit_policies (strict write, lenient read),
// including the semantic checks on condition trees and schedules.
import { describe } from 'node:test';
import { accepted, green, red, rejected, runTable, yellow } from './characterize.test-support.js';

describe('rate_limit_policies', () => {
  const classic = { name: 'p', scope: 'api_key', scope_ref: 'k1', window: 'minute', max_requests: 100 };
  const cond = { name: 'c', limits: { rpm: 10 } };
  const leaf = (dimension: string, operator: string, value: unknown) => ({ dimension, operator, value });
  const nest = (depth: number): unknown =>
    depth === 1 ? leaf('team', '==', 't') : { logic: 'and', children: [nest(depth - 1)] };
  const schedule = {
    timezone: 'Europe/Berlin',
    start_time: '22:00',
    end_time: '06:00',
    days_of_week: ['sat'],
  };
  runTable('rate_limit_policies', [
    { label: 'classic', doc: classic, write: accepted(classic), read: green },
    {
      label: 'classic needs max_requests or max_tokens',
      doc: { name: 'p', scope: 'api_key', scope_ref: 'k1', window: 'minute' },
      write: rejected('', 'max_tokens'),
      read: red,
    },
    {
      label: 'classic max_requests 0',
      doc: { ...classic, max_requests: 0 },
      write: rejected('/max_requests', '>= 1'),
      read: red,
    },
    {
      label: 'classic window enum',
      doc: { ...classic, window: 'day' },
      write: rejected('/window', 'must be one of'),
      read: red,
    },
    {
      label: 'classic scope_ref required',
      doc: { name: 'p', scope: 'team', window: 'hour', max_tokens: 5 },
      write: rejected('', '"scope_ref"'),
      read: red,
    },
    { label: 'conditional, no conditions = every request', doc: cond, write: accepted(cond), read: green },
    {
      label: 'conditional limits must set a field',
      doc: { name: 'c', limits: {} },
      write: rejected('/limits', 'at least one'),
      read: red,
    },
    {
      label: 'mixing both forms',
      doc: { ...classic, limits: { rpm: 1 } },
      write: rejected('', 'not both'),
      read: red,
    },
    {
      label: 'group_by repeats',
      doc: { ...cond, group_by: ['team', 'team'] },
      write: rejected('/group_by', 'repeat'),
      read: red,
    },
    {
      label: 'action only reject',
      doc: { ...cond, action: 'throttle' },
      write: rejected('/action', 'must be one of'),
      read: red,
    },
    {
      label: 'conditions: in list and regex on string dimension',
      doc: {
        ...cond,
        conditions: [
          leaf('model', 'in', ['a', 'b']),
          leaf('model_name', '~*', '^gpt-4'),
          { logic: 'or', negate: true, children: [leaf('provider', '==', 'openai')] },
        ],
      },
      write: accepted(),
      read: green,
    },
    { label: 'depth 3 allowed', doc: { ...cond, conditions: [nest(3)] }, write: accepted(), read: green },
    {
      label: 'depth 4 rejected',
      doc: { ...cond, conditions: [nest(4)] },
      write: rejected('/conditions/0/children/0/children/0/children/0', 'deeper than 3'),
      read: red,
    },
    {
      label: '16 leaves allowed',
      doc: { ...cond, conditions: Array.from({ length: 16 }, () => leaf('team', '==', 't')) },
      write: accepted(),
      read: green,
    },
    {
      label: '17 leaves rejected',
      doc: { ...cond, conditions: Array.from({ length: 17 }, () => leaf('team', '==', 't')) },
      write: rejected('/conditions/16', 'more than 16'),
      read: red,
    },
    {
      label: 'reserved operator',
      doc: { ...cond, conditions: [leaf('team', '>=', '1')] },
      write: rejected('/conditions/0/operator', 'reserved'),
      read: red,
    },
    {
      label: 'unknown operator',
      doc: { ...cond, conditions: [leaf('team', '=~', 'x')] },
      write: rejected('/conditions/0/operator', 'must be one of'),
      read: red,
    },
    {
      label: 'regex on identity dimension',
      doc: { ...cond, conditions: [leaf('api_key', '~~', 'x')] },
      write: rejected('/conditions/0/operator', 'model_name and provider'),
      read: red,
    },
    {
      label: 'regex must compile',
      doc: { ...cond, conditions: [leaf('model_name', '~~', '(')] },
      write: rejected('/conditions/0/value', 'compile'),
      read: red,
    },
    {
      label: 'regex longer than 256',
      doc: { ...cond, conditions: [leaf('model_name', '~~', 'a'.repeat(257))] },
      write: rejected('/conditions/0/value', '256'),
      read: red,
    },
    {
      label: 'in with 65 values',
      doc: {
        ...cond,
        conditions: [
          leaf(
            'team',
            'in',
            Array.from({ length: 65 }, (_, i) => `t${i}`),
          ),
        ],
      },
      write: rejected('/conditions/0/value', '1..64'),
      read: red,
    },
    {
      label: 'in with a string',
      doc: { ...cond, conditions: [leaf('team', 'in', 't')] },
      write: rejected('/conditions/0/value', '1..64'),
      read: red,
    },
    {
      label: '== with a list',
      doc: { ...cond, conditions: [leaf('team', '==', ['t'])] },
      write: rejected('/conditions/0/value', 'one non-empty string'),
      read: red,
    },
    {
      label: 'empty group',
      doc: { ...cond, conditions: [{ logic: 'and', children: [] }] },
      write: rejected('/conditions/0/children', 'length'),
      read: red,
    },
    {
      label: 'schedule crossing midnight',
      doc: { ...classic, schedules: [schedule] },
      write: accepted({ schedules: [schedule] }),
      read: green,
    },
    {
      label: 'schedule end 24:00 with dates',
      doc: {
        ...cond,
        schedules: [{ timezone: 'UTC', start_time: '00:00', end_time: '24:00', dates: ['2026-02-28'] }],
      },
      write: accepted(),
      read: green,
    },
    {
      label: 'schedule with both days and dates',
      doc: { ...cond, schedules: [{ ...schedule, dates: ['2026-01-01'] }] },
      write: rejected('/schedules/0', 'exactly one'),
      read: red,
    },
    {
      label: 'schedule with neither days nor dates',
      doc: { ...cond, schedules: [{ timezone: 'UTC', start_time: '01:00', end_time: '02:00' }] },
      write: rejected('/schedules/0', 'exactly one'),
      read: red,
    },
    {
      label: 'schedule bad timezone',
      doc: { ...cond, schedules: [{ ...schedule, timezone: 'Mars/Olympus' }] },
      write: rejected('/schedules/0/timezone', 'IANA'),
      read: red,
    },
    {
      label: 'schedule start 24:00',
      doc: { ...cond, schedules: [{ ...schedule, start_time: '24:00' }] },
      write: rejected('/schedules/0/start_time', 'HH:MM'),
      read: red,
    },
    {
      label: 'schedule impossible date',
      doc: {
        ...cond,
        schedules: [{ timezone: 'UTC', start_time: '00:00', end_time: '01:00', dates: ['2026-02-30'] }],
      },
      write: rejected('/schedules/0/dates/0', 'YYYY-MM-DD'),
      read: red,
    },
    {
      label: 'schedule day enum',
      doc: { ...cond, schedules: [{ ...schedule, days_of_week: ['monday'] }] },
      write: rejected('/schedules/0/days_of_week/0', 'must be one of'),
      read: red,
    },
    {
      label: 'unknown field strict vs lenient',
      doc: { ...classic, burst: 5 },
      write: rejected('', 'unknown field "burst"'),
      read: yellow('burst'),
    },
    {
      label: 'unknown field in a condition leaf',
      doc: { ...cond, conditions: [{ ...leaf('team', '==', 't'), weight: 1 }] },
      write: rejected('/conditions/0', 'unknown field "weight"'),
      read: yellow('conditions[].weight'),
    },
  ]);
});
