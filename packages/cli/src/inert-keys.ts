/**
 * Config keys that parse and validate but have no effect in this build because their feature
 * does not exist yet. `serve` logs them in one warning at startup when any is set to a
 * non-default value, so an operator is never misled into thinking they are active. Remove an
 * entry in the same commit that makes its feature real (docs/configuration.md lists the same).
 */
import type { Config } from '@aisix/core';

/** The keys set to a non-default value that this build does not apply, in config order. */
export function inertConfigKeys(c: Config): string[] {
  const keys: string[] = [];
  // ratelimit.redis without ratelimit.backend: redis connects nothing (the memory backend counts).
  if (c.ratelimit.backend !== 'redis' && c.ratelimit.redis !== undefined) keys.push('ratelimit.redis');
  // Only the keep-alive idle time reaches upstream sockets: node sets no probe interval or
  // count, and undici's pool has no per-host idle cap.
  const up = c.upstream;
  if (up.tcp_keepalive_interval_secs !== 30) keys.push('upstream.tcp_keepalive_interval_secs');
  if (up.tcp_keepalive_retries !== 5) keys.push('upstream.tcp_keepalive_retries');
  if (up.pool_max_idle_per_host !== undefined) keys.push('upstream.pool_max_idle_per_host');
  const otlp = c.observability.metrics.otlp;
  if (otlp.enabled) keys.push('observability.metrics.otlp.enabled');
  if (otlp.endpoint !== undefined) keys.push('observability.metrics.otlp.endpoint');
  // The AISIX Cloud data-plane mode (control-plane bundle, heartbeats) is not built.
  if (c.managed.enabled) keys.push('managed.enabled');
  return keys;
}
