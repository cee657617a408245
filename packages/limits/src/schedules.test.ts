/**
 * Suspension schedules: same-day windows, windows crossing midnight (the part after midnight
 * belongs to the previous day's entry), `24:00`, empty windows, dates vs days_of_week, and IANA
 * zones whose offset changes with DST (the per-zone per-minute cache must follow the switch).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CompiledSchedule, compileSchedules, inSchedule, localMinute } from './schedules.js';

function sched(...raw: Record<string, unknown>[]): CompiledSchedule[] {
  const s = compileSchedules(raw);
  assert.ok(Array.isArray(s), String(s));
  return s;
}
const at = (iso: string) => Date.parse(iso);

describe('schedules', () => {
  it('same-day window: start inclusive, end exclusive, only on listed days', () => {
    const s = sched({
      timezone: 'UTC',
      days_of_week: ['mon', 'wed'],
      start_time: '09:00',
      end_time: '17:30',
    });
    assert.equal(inSchedule(s, at('2024-01-01T09:00:00Z')), true, 'Monday 09:00');
    assert.equal(inSchedule(s, at('2024-01-01T17:29:59Z')), true);
    assert.equal(inSchedule(s, at('2024-01-01T17:30:00Z')), false);
    assert.equal(inSchedule(s, at('2024-01-01T08:59:59Z')), false);
    assert.equal(inSchedule(s, at('2024-01-02T12:00:00Z')), false, 'Tuesday');
    assert.equal(inSchedule(s, at('2024-01-03T12:00:00Z')), true, 'Wednesday');
  });

  it('crossing midnight: the morning part belongs to the previous day', () => {
    const s = sched({ timezone: 'UTC', days_of_week: ['fri'], start_time: '22:00', end_time: '02:00' });
    assert.equal(inSchedule(s, at('2024-01-05T23:00:00Z')), true, 'Friday night');
    assert.equal(inSchedule(s, at('2024-01-06T01:59:00Z')), true, 'Saturday early: Friday entry');
    assert.equal(inSchedule(s, at('2024-01-06T02:00:00Z')), false);
    assert.equal(inSchedule(s, at('2024-01-06T23:00:00Z')), false, 'Saturday night');
    assert.equal(inSchedule(s, at('2024-01-05T01:00:00Z')), false, 'Friday early belongs to Thursday');
  });

  it('24:00 ends at midnight; equal start and end is empty', () => {
    const s = sched({ timezone: 'UTC', days_of_week: ['mon'], start_time: '20:00', end_time: '24:00' });
    assert.equal(inSchedule(s, at('2024-01-01T23:59:00Z')), true);
    assert.equal(inSchedule(s, at('2024-01-02T00:00:00Z')), false);
    const empty = sched({ timezone: 'UTC', days_of_week: ['mon'], start_time: '10:00', end_time: '10:00' });
    assert.equal(inSchedule(empty, at('2024-01-01T10:00:00Z')), false);
    const allDay = sched({ timezone: 'UTC', days_of_week: ['mon'], start_time: '00:00', end_time: '24:00' });
    assert.equal(inSchedule(allDay, at('2024-01-01T00:00:00Z')), true);
  });

  it('dates are local calendar dates, crossing midnight included', () => {
    const xmas = sched({
      timezone: 'Asia/Tokyo',
      dates: ['2024-12-25'],
      start_time: '00:00',
      end_time: '24:00',
    });
    assert.equal(inSchedule(xmas, at('2024-12-24T15:30:00Z')), true, '00:30 JST on the 25th');
    assert.equal(inSchedule(xmas, at('2024-12-25T15:30:00Z')), false, '00:30 JST on the 26th');
    const nye = sched({ timezone: 'UTC', dates: ['2024-12-31'], start_time: '22:00', end_time: '02:00' });
    assert.equal(inSchedule(nye, at('2025-01-01T01:00:00Z')), true);
    assert.equal(inSchedule(nye, at('2025-01-01T23:00:00Z')), false);
  });

  it('follows DST: the same UTC instant maps to different local hours in winter and summer', () => {
    const s = sched({
      timezone: 'Europe/Berlin',
      days_of_week: ['mon'],
      start_time: '09:00',
      end_time: '10:00',
    });
    assert.equal(inSchedule(s, at('2024-01-15T08:30:00Z')), true, '09:30 CET');
    assert.equal(inSchedule(s, at('2024-07-15T08:30:00Z')), false, '10:30 CEST');
    assert.equal(inSchedule(s, at('2024-07-15T07:30:00Z')), true, '09:30 CEST');
  });

  it('across a DST switch night (America/New_York, 2024-03-10 02:00 -> 03:00)', () => {
    const s = sched({
      timezone: 'America/New_York',
      days_of_week: ['sun'],
      start_time: '01:00',
      end_time: '04:00',
    });
    assert.equal(inSchedule(s, at('2024-03-10T06:30:00Z')), true, '01:30 EST');
    assert.equal(inSchedule(s, at('2024-03-10T07:30:00Z')), true, '03:30 EDT');
    assert.equal(inSchedule(s, at('2024-03-10T08:30:00Z')), false, '04:30 EDT');
    assert.equal(inSchedule(s, at('2024-03-03T08:30:00Z')), true, '03:30 EST a week earlier');
    const lm = localMinute('America/New_York', at('2024-03-10T07:00:00Z'));
    assert.deepEqual([lm.date, lm.mod, lm.day, lm.prevDate], ['2024-03-10', 180, 0, '2024-03-09']);
  });

  it('any matching entry suspends', () => {
    const s = sched(
      { timezone: 'UTC', days_of_week: ['tue'], start_time: '00:00', end_time: '01:00' },
      { timezone: 'Asia/Kolkata', days_of_week: ['mon'], start_time: '12:00', end_time: '13:00' },
    );
    assert.equal(inSchedule(s, at('2024-01-01T06:45:00Z')), true, '12:15 IST');
    assert.equal(inSchedule(s, at('2024-01-02T00:15:00Z')), true);
    assert.equal(inSchedule(s, at('2024-01-02T06:45:00Z')), false);
  });

  it('rejects unusable data with a reason', () => {
    assert.equal(
      typeof compileSchedules([
        { timezone: 'UTC', start_time: '9:00', end_time: '10:00', days_of_week: ['mon'] },
      ]),
      'string',
    );
    assert.equal(
      typeof compileSchedules([{ timezone: 'UTC', start_time: '09:00', end_time: '10:00' }]),
      'string',
    );
    assert.equal(
      typeof compileSchedules([
        { timezone: 'UTC', start_time: '09:00', end_time: '10:00', days_of_week: ['xyz'] },
      ]),
      'string',
    );
    assert.deepEqual(compileSchedules(undefined), []);
  });
});
