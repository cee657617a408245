/**
 * The `aisix_config_*` series of a config sync in Prometheus text format (appended to
 * `/metrics` by the status listener).
 * Leaves out: the state behind them (`./config-sync.ts`) and the `/status/config` body
 * (`./config-status.ts`).
 */
import { KIND_NAMES } from '@aisix/core';
import { allRejected, type StatusRejectedRow } from './config-status.js';
import type { ConfigSync } from './config-sync.js';

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * The `aisix_config_*` series in Prometheus text format (append to `/metrics`). Per-kind
 * gauges list every kind (zeros included) plus any unknown kind segment seen in rejections;
 * rejected keys that do not parse far enough to name a kind are labelled `kind=""`.
 */
export function configMetricsText(sync: ConfigSync): string {
  const st = sync.status();
  const snap = sync.snapshot;
  // Revisions and connection exist for the stores (etcd, embedded), not for the file.
  const store = st.source.type !== 'file';
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number][]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${v}`);
  };
  const perKind = (count: (kind: string) => number, extra: Iterable<string>): [string, number][] => {
    const kinds = new Set<string>([...KIND_NAMES, ...extra]);
    return [...kinds].sort().map((k) => [`{kind="${esc(k)}"}`, count(k)]);
  };
  const rejected = allRejected(st, snap);
  const tally = (rows: readonly StatusRejectedRow[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const r of rows) m.set(r.resource_kind, (m.get(r.resource_kind) ?? 0) + 1);
    return m;
  };
  const rej = tally(rejected);
  const stale = tally(rejected.filter((r) => r.serving_stale_since !== undefined));
  const yellow = snap.status.partially_compatible_resources ?? {};

  metric('aisix_config_last_reload_successful', 'gauge', 'Whether the last config reload succeeded.', [
    ['', st.last_reload?.successful === true ? 1 : 0],
  ]);
  metric(
    'aisix_config_last_reload_success_timestamp_seconds',
    'gauge',
    'Unix time of the last successful reload.',
    [['', st.last_reload_success_timestamp ?? 0]],
  );
  metric('aisix_config_reloads_total', 'counter', 'Full config rebuilds from the source.', [
    ['', st.reloads_total],
  ]);
  metric(
    'aisix_config_reload_failures_total',
    'counter',
    'Failed config reloads by reason.',
    (['fetch', 'parse', 'validate'] as const).map((r) => [`{reason="${r}"}`, st.reload_failures_total[r]]),
  );
  metric(
    'aisix_config_rejected_resources',
    'gauge',
    'Stored resources rejected on read.',
    perKind((k) => rej.get(k) ?? 0, rej.keys()),
  );
  metric(
    'aisix_config_partially_compatible_resources',
    'gauge',
    'Served resources with unknown fields ignored.',
    perKind((k) => yellow[k] ?? 0, Object.keys(yellow)),
  );
  metric(
    'aisix_config_stale_served_resources',
    'gauge',
    'Rejected resources still serving their last good value.',
    perKind((k) => stale.get(k) ?? 0, stale.keys()),
  );
  if (store) {
    metric('aisix_config_observed_revision', 'gauge', 'Latest store revision observed.', [
      ['', st.source.observed_revision],
    ]);
    metric('aisix_config_applied_revision', 'gauge', 'Store revision of the applied snapshot.', [
      ['', st.applied_revision],
    ]);
    metric('aisix_config_source_connected', 'gauge', 'Whether the config source is reachable.', [
      ['', st.source.connected ? 1 : 0],
    ]);
  }
  const hash = st.applied?.config_hash ?? snap.status.config_hash;
  metric('aisix_config_hash_info', 'gauge', 'Hash of the served configuration.', [[`{hash="${hash}"}`, 1]]);
  return `${out.join('\n')}\n`;
}
