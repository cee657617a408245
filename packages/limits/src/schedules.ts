/**
 * Suspension schedules of `rate_limit_policies` (control-plane §3.6): while `now` falls inside
 * any window the policy is not applied. A window is local wall-clock time in an IANA zone:
 * `start_time` inclusive, `end_time` exclusive (`24:00` = end of day); an end earlier than the
 * start crosses midnight and its part after midnight belongs to the previous day's entry (a
 * `fri 22:00-02:00` window covers Saturday 01:00); equal start and end is empty.
 *
 * Local time is derived without per-request `Intl` work: each zone's local wall-clock for the
 * current minute is computed once with `formatToParts` and cached (zone offsets only change at
 * minute boundaries, so the cache is exact across DST switches). The planner additionally caches
 * each policy's verdict per minute, so a request normally costs one integer compare.
 */

const DAY_INDEX: Readonly<Record<string, number>> = {
  sun: 0,
  mon: 1,
  tue: 2,
  wed: 3,
  thu: 4,
  fri: 5,
  sat: 6,
};
const HHMM = /^(\d{2}):(\d{2})$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

export interface CompiledSchedule {
  readonly zone: string;
  /** Local weekdays (0 = Sunday) or, exclusively, local dates `YYYY-MM-DD`. */
  readonly days: ReadonlySet<number> | undefined;
  readonly dates: ReadonlySet<string> | undefined;
  /** Minutes since local midnight; end may be 1440. */
  readonly start: number;
  readonly end: number;
}

function minutes(s: unknown, allow2400: boolean): number | undefined {
  if (typeof s !== 'string') return undefined;
  if (allow2400 && s === '24:00') return 1440;
  const m = HHMM.exec(s);
  if (m === null) return undefined;
  const h = Number(m[1]);
  const mi = Number(m[2]);
  return h < 24 && mi < 60 ? h * 60 + mi : undefined;
}

function zoneWorks(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Compiles a policy's `schedules`; a string is the reason the data is unusable. */
export function compileSchedules(raw: unknown): CompiledSchedule[] | string {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return 'schedules is not a list';
  const out: CompiledSchedule[] = [];
  for (const s of raw) {
    if (typeof s !== 'object' || s === null) return 'a schedule is not an object';
    const o = s as Record<string, unknown>;
    if (typeof o.timezone !== 'string' || !zoneWorks(o.timezone)) return 'a schedule has an unknown timezone';
    const start = minutes(o.start_time, false);
    const end = minutes(o.end_time, true);
    if (start === undefined || end === undefined) return 'a schedule has a malformed start_time/end_time';
    let days: Set<number> | undefined;
    let dates: Set<string> | undefined;
    if (Array.isArray(o.days_of_week) && o.dates === undefined) {
      days = new Set();
      for (const d of o.days_of_week) {
        const i = typeof d === 'string' ? DAY_INDEX[d] : undefined;
        if (i === undefined) return 'a schedule has an unknown day of week';
        days.add(i);
      }
    } else if (Array.isArray(o.dates) && o.days_of_week === undefined) {
      dates = new Set();
      for (const d of o.dates) {
        if (typeof d !== 'string' || !DATE.test(d)) return 'a schedule has a malformed date';
        dates.add(d);
      }
    } else return 'a schedule needs exactly one of days_of_week or dates';
    out.push({ zone: o.timezone, days, dates, start, end });
  }
  return out;
}

/** Local wall-clock of one minute in one zone. */
interface LocalMinute {
  readonly minute: number;
  readonly day: number;
  readonly date: string;
  readonly prevDay: number;
  readonly prevDate: string;
  /** Minutes since local midnight. */
  readonly mod: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const cache = new Map<string, LocalMinute>();

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function isoDate(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** Local time in `zone` for the minute containing `nowMs` (cached per zone and minute). */
export function localMinute(zone: string, nowMs: number): LocalMinute {
  const minute = Math.floor(nowMs / 60_000);
  const hit = cache.get(zone);
  if (hit !== undefined && hit.minute === minute) return hit;
  let fmt = formatters.get(zone);
  if (fmt === undefined) {
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    formatters.set(zone, fmt);
  }
  const f: Record<string, number> = {};
  for (const p of fmt.formatToParts(minute * 60_000)) if (p.type !== 'literal') f[p.type] = Number(p.value);
  // The local wall-clock read as if it were UTC: date arithmetic below uses UTC getters only.
  const localMs = Date.UTC(f.year as number, (f.month as number) - 1, f.day as number, f.hour, f.minute);
  const today = new Date(localMs);
  const prev = new Date(localMs - 86_400_000);
  const lm: LocalMinute = {
    minute,
    day: today.getUTCDay(),
    date: isoDate(today),
    prevDay: prev.getUTCDay(),
    prevDate: isoDate(prev),
    mod: (f.hour as number) * 60 + (f.minute as number),
  };
  cache.set(zone, lm);
  return lm;
}

function onDay(s: CompiledSchedule, day: number, date: string): boolean {
  return s.days !== undefined ? s.days.has(day) : (s.dates?.has(date) ?? false);
}

/** True while `nowMs` is inside one of the windows. */
export function inSchedule(schedules: readonly CompiledSchedule[], nowMs: number): boolean {
  for (const s of schedules) {
    if (s.start === s.end) continue;
    const t = localMinute(s.zone, nowMs);
    if (s.start < s.end) {
      if (t.mod >= s.start && t.mod < s.end && onDay(s, t.day, t.date)) return true;
    } else {
      // Crosses midnight: evening part today, morning part belongs to yesterday's entry.
      if (t.mod >= s.start && onDay(s, t.day, t.date)) return true;
      if (t.mod < s.end && onDay(s, t.prevDay, t.prevDate)) return true;
    }
  }
  return false;
}
