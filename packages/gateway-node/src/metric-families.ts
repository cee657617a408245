/**
 * The metric families behind `Metrics` and their rendering: counters and histograms whose cells
 * are plain numbers and bucket arrays bumped in place by the hot path, and gauges read at scrape.
 * Each family implements `get()` (the shape prom-client's own metrics return), so the registry
 * renders the usual Prometheus text and `getMetricsAsJSON()` can be aggregated across cluster
 * workers (`aggregateMetricsText`).
 * Leaves out: which families exist, their names, help and labels (`./metrics.ts`).
 */
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue as PromValue } from 'prom-client';

export type Labels = Readonly<Record<string, string>>;

export interface MetricValue {
  readonly value: number;
  readonly labels: Labels;
  readonly metricName?: string;
}

export interface MetricJson {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly values: MetricValue[];
  /** How `aggregateMetricsText` combines workers' values (prom-client's aggregator names). */
  readonly aggregator: 'sum' | 'min';
}

/** What the registry needs from a metric: a name and `get()`. */
export interface Family {
  readonly name: string;
  get(): Promise<MetricJson>;
}

export interface CounterCell {
  readonly labels: Labels;
  value: number;
}

export class CounterFamily implements Family {
  private readonly cells = new Map<string, CounterCell>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** The cell for `key` (a unique string for `labels`), created on first use. */
  cell(key: string, labels: () => Labels): CounterCell {
    let c = this.cells.get(key);
    if (c === undefined) {
      c = { labels: labels(), value: 0 };
      this.cells.set(key, c);
    }
    return c;
  }

  get(): Promise<MetricJson> {
    const values: MetricValue[] = [];
    for (const c of this.cells.values()) values.push({ value: c.value, labels: c.labels });
    return Promise.resolve({ name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' });
  }
}

export interface HistogramCell {
  readonly labels: Labels;
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

export class HistogramFamily implements Family {
  private readonly cells = new Map<string, HistogramCell>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  cell(key: string, labels: () => Labels): HistogramCell {
    let c = this.cells.get(key);
    if (c === undefined) {
      c = { labels: labels(), buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.cells.set(key, c);
    }
    return c;
  }

  observe(c: HistogramCell, v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > (b[i] as number)) i++;
    (c.buckets as { [i: number]: number })[i] = (c.buckets[i] as number) + 1;
    c.sum += v;
    c.count++;
  }

  get(): Promise<MetricJson> {
    const values: MetricValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.cells.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.buckets[i] as number;
        values.push({ value: acc, labels: { le: String(this.bounds[i]), ...c.labels }, metricName: bucket });
      }
      values.push({ value: c.count, labels: { le: '+Inf', ...c.labels }, metricName: bucket });
      values.push({ value: c.sum, labels: c.labels, metricName: `${this.name}_sum` });
      values.push({ value: c.count, labels: c.labels, metricName: `${this.name}_count` });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: 'histogram',
      values,
      aggregator: 'sum',
    });
  }
}

export class GaugeFamily implements Family {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => MetricValue[],
    private readonly aggregator: 'sum' | 'min' = 'sum',
  ) {}

  get(): Promise<MetricJson> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: 'gauge',
      values: this.read(),
      aggregator: this.aggregator,
    });
  }
}

/** One process's metrics as data, from `Metrics.snapshot()`. */
export type MetricsSnapshot = MetricObjectWithValues<PromValue<string>>[];

/**
 * Prometheus text for the sum of several processes' snapshots (node:cluster workers): counters
 * and histogram buckets add up, and so does the in-flight gauge.
 */
export function aggregateMetricsText(parts: readonly MetricsSnapshot[]): Promise<string> {
  return AggregatorRegistry.aggregate([...parts]).metrics();
}

/**
 * What processes that exited keep contributing to the pod's sum (node:cluster workers): their
 * counters and histograms as last read, added up into one snapshot. Their gauges are left out:
 * they described a live process (its in-flight requests, the quotas it last saw).
 */
export function departedPart(parts: readonly MetricsSnapshot[]): MetricsSnapshot {
  const families = new Map<
    string,
    { family: MetricsSnapshot[number]; values: Map<string, PromValue<string>> }
  >();
  for (const part of parts) {
    for (const m of part) {
      // prom-client types `type` as an enum; at run time it is the exposition's word.
      const type = m.type as unknown as string;
      if (type !== 'counter' && type !== 'histogram') continue;
      let f = families.get(m.name);
      if (f === undefined) {
        f = { family: m, values: new Map() };
        families.set(m.name, f);
      }
      for (const v of m.values as (PromValue<string> & { metricName?: string })[]) {
        const labels = Object.entries(v.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        const key = `${v.metricName ?? m.name}\u0000${JSON.stringify(labels)}`;
        const prev = f.values.get(key);
        f.values.set(key, prev === undefined ? v : { ...prev, value: prev.value + v.value });
      }
    }
  }
  return [...families.values()].map(({ family, values }) => ({ ...family, values: [...values.values()] }));
}
