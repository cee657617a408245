/**
 * Where usage events go: every attached sink has its own bounded queue, filled by the completion
 * hook and drained by the sink's consumer (an exporter's batch pipeline). A full queue drops the
 * event and counts the drop; the request never waits. With no sink attached the bus is inactive
 * and the completion hook builds no event at all.
 *
 * Leaves out: building events (`events.ts`), delivering them (`pipeline.ts`, the exporters).
 */
import type { RequestSteps } from '../pipeline/context.js';
import type { UsageContent } from './content.js';
import type { UsageEvent } from './events.js';

/** A fixed-capacity FIFO (ring buffer): `push` never grows it, never blocks. */
export class BoundedQueue<T> {
  private readonly slots: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
    this.slots = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** false when full (the item is not kept). */
  push(item: T): boolean {
    if (this.count === this.capacity) return false;
    this.slots[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return true;
  }

  /** Up to `max` items, oldest first. */
  take(max: number): T[] {
    const n = Math.min(max, this.count);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.slots[this.head] as T;
      this.slots[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
    }
    this.count -= n;
    return out;
  }
}

/** A consumer of usage events (an exporter). */
export interface UsageSink {
  /** Label of the drop metric (the exporter's name). */
  readonly name: string;
  /** `content_max_bytes` of an exporter in `content_mode: full`; 0 (or absent): metadata only. */
  readonly contentMaxBytes?: number;
  /** Renders the request's cache lookup and guardrail evaluations too (`offer`'s `steps`). */
  readonly wantsSteps?: boolean;
  /**
   * Takes the events of one request (and, when it asked for them, the request's content and
   * steps); returns how many it dropped (its queue was full).
   */
  offer(events: readonly UsageEvent[], content?: UsageContent, steps?: RequestSteps): number;
}

export interface UsageBusMetrics {
  usageEventEmitted(e: UsageEvent): void;
  /** `n` events dropped for `reason` by sink `sink`. */
  usageEventDropped(reason: string, sink: string, n: number): void;
}

export class UsageBus {
  private sinks: readonly UsageSink[] = [];
  private maxContent = 0;
  private steps = false;
  private readonly changeHooks: (() => void)[] = [];

  constructor(private readonly metrics: UsageBusMetrics) {}

  /** Whether any sink listens (the completion hook builds events only then). */
  get active(): boolean {
    return this.sinks.length > 0;
  }

  /** Whether a sink renders the requests' steps (the completion hook collects them only then). */
  get stepsWanted(): boolean {
    return this.steps;
  }

  /** Bytes of content to capture per side: the largest cap of the full-content sinks, else 0. */
  get contentBytes(): number {
    return this.maxContent;
  }

  /**
   * Runs `hook` before sinks are attached or detached: requests that finished earlier and wait
   * to be published go to the sinks that were attached when they finished.
   */
  beforeSinksChange(hook: () => void): void {
    this.changeHooks.push(hook);
  }

  attach(s: UsageSink): void {
    this.setSinks([...this.sinks, s]);
  }

  detach(s: UsageSink): void {
    this.setSinks(this.sinks.filter((x) => x !== s));
  }

  private setSinks(sinks: readonly UsageSink[]): void {
    for (const h of this.changeHooks) h();
    this.sinks = sinks;
    this.maxContent = 0;
    for (const s of sinks) this.maxContent = Math.max(this.maxContent, s.contentMaxBytes ?? 0);
    this.steps = sinks.some((s) => s.wantsSteps === true);
  }

  /** Events an exporter lost after its queue took them (given up after the retries, or at close). */
  lost(sink: string, n: number): void {
    if (n > 0) this.metrics.usageEventDropped('delivery_failed', sink, n);
  }

  publish(events: readonly UsageEvent[], content?: UsageContent, steps?: RequestSteps): void {
    for (const e of events) this.metrics.usageEventEmitted(e);
    for (const s of this.sinks) {
      let dropped: number;
      try {
        dropped = s.offer(
          events,
          (s.contentMaxBytes ?? 0) > 0 ? content : undefined,
          s.wantsSteps === true ? steps : undefined,
        );
      } catch {
        dropped = events.length;
      }
      if (dropped > 0) this.metrics.usageEventDropped('queue_full', s.name, dropped);
    }
  }
}
