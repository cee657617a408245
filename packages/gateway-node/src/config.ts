/**
 * The slice of `config.yaml` the gateway reads, and its defaults. The type is structural (the
 * same section/key names as core's `Config`, control-plane.md §1), so the CLI passes core's
 * parsed `Config` unchanged and tests can pass a few keys. Defaults here mirror the spec's so a
 * partial test config behaves like a real one.
 */
import { keepAliveTimeoutMs, timerMs } from '@aisix/core';

export interface GatewayConfig {
  proxy: {
    addr: string;
    request_body_limit_bytes?: number;
    real_ip?: { trusted_proxies?: string[]; recursive?: boolean; header?: string };
    /** Ordered path rewrites applied before routing (`http/rewrite.ts`). */
    url_rewrites?: readonly { name?: string | undefined; match: string; rewrite: string }[];
  };
  observability?: {
    access_log?: boolean;
    metrics?: {
      prometheus?: { enabled?: boolean; path?: string; addr?: string };
      buckets?: { request_e2e_latency?: number[]; request_ttft?: number[] };
      /** User-Agent → `client_type` rules, before the built-in table (`client-type.ts`). */
      client_type_rules?: readonly { pattern: string; client: string }[];
    };
  };
  upstream?: {
    timeout_ms?: number;
    stream_timeout_ms?: number;
    connect_timeout_ms?: number;
    pool_idle_timeout_secs?: number;
    pool_max_idle_per_host?: number | undefined;
    retries?: number;
    tcp_keepalive_secs?: number;
    /** Outbound TLS of every upstream client (models, MCP, OAuth tokens, OpenAPI tools). */
    tls?: {
      ca_file?: string | undefined;
      client_cert_file?: string | undefined;
      client_key_file?: string | undefined;
      verify?: boolean;
    };
  };
  downstream?: { idle_timeout_secs?: number; sse_keepalive_interval_secs?: number };
  shutdown?: { min_drain_secs?: number; max_drain_secs?: number };
  etcd?: { env_id?: string };
  /** Endpoint of `kind: bedrock` guardrails that set none themselves (unset: the regional host). */
  bedrock_endpoint_url?: string | undefined;
}

/** Resolved settings with every default applied (read once at start). */
export interface Settings {
  readonly proxyAddr: string;
  readonly bodyLimit: number;
  readonly trustedProxies: readonly string[];
  readonly realIpRecursive: boolean;
  readonly realIpHeader: string;
  readonly accessLog: boolean;
  readonly metricsEnabled: boolean;
  readonly metricsAddr: string;
  readonly metricsPath: string;
  readonly e2eBuckets: readonly number[];
  readonly ttftBuckets: readonly number[];
  readonly clientTypeRules: readonly { readonly pattern: string; readonly client: string }[];
  readonly timeoutMs: number;
  readonly streamTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly poolIdleTimeoutMs: number;
  readonly retries: number;
  readonly tcpKeepAliveSecs: number;
  readonly upstreamTls: UpstreamTls;
  /** `downstream.idle_timeout_secs` as `keepAliveTimeout` for every listener; 0 = never. */
  readonly idleTimeoutMs: number;
  readonly sseKeepaliveMs: number;
  readonly minDrainMs: number;
  readonly maxDrainMs: number;
  readonly envId: string;
}

/** `upstream.tls`: file paths (read when the upstream agent is built) and verification. */
export interface UpstreamTls {
  readonly caFile: string | undefined;
  readonly clientCertFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  readonly verify: boolean;
}

export const DEFAULT_E2E_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 420, 600,
];
export const DEFAULT_TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

function metricsPath(p: string | undefined): string {
  const t = (p ?? '').trim();
  if (t === '') return '/metrics';
  return t.startsWith('/') ? t : `/${t}`;
}

export function resolveSettings(c: GatewayConfig): Settings {
  const prom = c.observability?.metrics?.prometheus;
  const up = c.upstream ?? {};
  return {
    proxyAddr: c.proxy.addr,
    bodyLimit: c.proxy.request_body_limit_bytes ?? 0,
    trustedProxies: c.proxy.real_ip?.trusted_proxies ?? [],
    realIpRecursive: c.proxy.real_ip?.recursive ?? false,
    realIpHeader: (c.proxy.real_ip?.header ?? 'x-forwarded-for').toLowerCase(),
    accessLog: c.observability?.access_log ?? true,
    metricsEnabled: prom?.enabled ?? true,
    metricsAddr: prom?.addr ?? '0.0.0.0:9090',
    metricsPath: metricsPath(prom?.path),
    e2eBuckets: c.observability?.metrics?.buckets?.request_e2e_latency ?? DEFAULT_E2E_BUCKETS,
    ttftBuckets: c.observability?.metrics?.buckets?.request_ttft ?? DEFAULT_TTFT_BUCKETS,
    clientTypeRules: c.observability?.metrics?.client_type_rules ?? [],
    // Durations are u64 in the contract; past a Node timer's range they mean "practically never".
    timeoutMs: timerMs(up.timeout_ms ?? 6_000_000),
    streamTimeoutMs: timerMs(up.stream_timeout_ms ?? 0),
    connectTimeoutMs: timerMs(up.connect_timeout_ms ?? 5000),
    poolIdleTimeoutMs: timerMs((up.pool_idle_timeout_secs ?? 30) * 1000),
    retries: up.retries ?? 2,
    tcpKeepAliveSecs: up.tcp_keepalive_secs ?? 60,
    upstreamTls: {
      caFile: up.tls?.ca_file,
      clientCertFile: up.tls?.client_cert_file,
      clientKeyFile: up.tls?.client_key_file,
      verify: up.tls?.verify ?? true,
    },
    idleTimeoutMs: keepAliveTimeoutMs(c.downstream?.idle_timeout_secs ?? 0),
    sseKeepaliveMs: timerMs((c.downstream?.sse_keepalive_interval_secs ?? 15) * 1000),
    minDrainMs: timerMs((c.shutdown?.min_drain_secs ?? 1) * 1000),
    maxDrainMs: timerMs((c.shutdown?.max_drain_secs ?? 30) * 1000),
    envId: c.etcd?.env_id ?? '',
  };
}

/** Splits `IP:port` / `[v6]:port` into host and port; throws naming the key on a bad value. */
export function parseAddr(key: string, addr: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m?.[1] || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${key} invalid socket address: ${addr}`);
  }
  return { host: m[1], port };
}
