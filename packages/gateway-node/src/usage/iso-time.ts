/**
 * ISO-8601 timestamps of usage events, and their epoch milliseconds back, each remembered for
 * the last millisecond it was asked for: under load many requests end (and many attempts
 * start) within the same millisecond, and an exporter reads back the very string it was given.
 * One instance per kind of timestamp, so the two kinds do not evict each other.
 */
export class IsoClock {
  private ms = Number.NaN;
  private text = '';

  /** `new Date(ms).toISOString()` (Date keeps whole milliseconds: the fraction is dropped). */
  at(ms: number): string {
    // + 0: -0 (a time just before the epoch) is kept as 0, which `Date.parse` gives back.
    const whole = Math.trunc(ms) + 0;
    if (whole !== this.ms) {
      this.ms = whole;
      this.text = new Date(whole).toISOString();
    }
    return this.text;
  }

  /** `Date.parse(iso)`, without parsing when `iso` is the last string this clock made. */
  parse(iso: string): number {
    return iso === this.text ? this.ms : Date.parse(iso);
  }
}

/** When a request's events were built (`occurred_at`). */
export const occurredClock = new IsoClock();
/** When an upstream attempt started (`attempt_started_at`). */
export const attemptClock = new IsoClock();
