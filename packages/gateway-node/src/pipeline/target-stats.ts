/**
 * Per-process load and latency of each direct target (by model id), for the metric strategies of
 * data-plane §8.4: `least_busy` reads the in-flight count (an attempt counts from its start until
 * it ends; a stream until its last byte), `least_latency` an exponentially weighted moving
 * average of observed attempt latency (α = 0.3). Fed by every attempt on every endpoint (direct
 * models, groups, passthrough), so a target busy with direct traffic is busy for its groups too.
 *
 * One Map lookup per attempt start and end; entries are small mutable records.
 */

/** EWMA weight of the newest sample. */
export const LATENCY_ALPHA = 0.3;

interface Stat {
  inFlight: number;
  /** Latency estimate in ms; -1 = never sampled. */
  ewma: number;
}

export class TargetStats {
  private readonly stats = new Map<string, Stat>();

  private stat(id: string): Stat {
    let s = this.stats.get(id);
    if (s === undefined) {
      s = { inFlight: 0, ewma: -1 };
      this.stats.set(id, s);
    }
    return s;
  }

  /** An attempt on `id` starts. */
  begin(id: string): void {
    this.stat(id).inFlight++;
  }

  /** The attempt ends; `latencyMs` feeds the estimate when the attempt measured one. */
  end(id: string, latencyMs: number | undefined): void {
    const s = this.stat(id);
    if (s.inFlight > 0) s.inFlight--;
    if (latencyMs !== undefined) this.observe(s, latencyMs);
  }

  private observe(s: Stat, ms: number): void {
    s.ewma = s.ewma < 0 ? ms : s.ewma + LATENCY_ALPHA * (ms - s.ewma);
  }

  inFlight(id: string): number {
    return this.stats.get(id)?.inFlight ?? 0;
  }

  /** Latency estimate in ms; -1 when never sampled (such targets sort first). */
  latency(id: string): number {
    return this.stats.get(id)?.ewma ?? -1;
  }
}
