/**
 * The typed shape of `config.yaml` after loading: every key with its default applied.
 * Optional keys that have no default stay `undefined`. The schema that produces this shape
 * (and drives env overrides) lives in `spec.ts`; the loading order lives in `load.ts`.
 */

/** A secret resolved at load time (e.g. the etcd password read from `password_env`).
 * Printing, string-concatenating, JSON-serialising or `util.inspect`-ing it shows
 * `[redacted]`; only `reveal()` returns the value. */
export class ResolvedSecret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[redacted]';
  }
}

export interface EtcdTlsConfig {
  ca_cert_file: string;
  client_cert_file: string | undefined;
  client_key_file: string | undefined;
  domain_name: string | undefined;
}

export interface EtcdConfig {
  endpoints: string[];
  prefix: string;
  env_id: string;
  user: string | undefined;
  /** Name of the env var holding the password (never the password itself). */
  password_env: string | undefined;
  /** The password read from `password_env` at load time. */
  password: ResolvedSecret | undefined;
  dial_timeout_ms: number;
  request_timeout_ms: number;
  tls: EtcdTlsConfig | undefined;
}

export interface ServerTlsConfig {
  cert_file: string;
  key_file: string;
}

export interface RealIpConfig {
  trusted_proxies: string[];
  recursive: boolean;
  header: string;
}

export interface UrlRewriteRule {
  name: string | undefined;
  match: string;
  rewrite: string;
}

export interface ProxyConfig {
  addr: string;
  request_body_limit_bytes: number;
  tls: ServerTlsConfig | undefined;
  real_ip: RealIpConfig;
  thread_per_core: boolean | undefined;
  /** Node worker processes sharing the proxy port; `auto` = available CPUs. Already
   * resolved: `thread_per_core: true` without an explicit `workers` yields `auto`. */
  workers: number | 'auto';
  url_rewrites: UrlRewriteRule[];
}

export interface AdminConfig {
  enabled: boolean;
  addr: string;
  admin_keys: string[];
  tls: ServerTlsConfig | undefined;
  /** Retention of the audit trail of admin writes (kept in the config store). */
  audit: AdminAuditConfig;
}

export interface AdminAuditConfig {
  /** Keep at most this many records; the oldest go first. 1..1,000,000, default 10,000. */
  max_records: number;
  /** Delete records older than this many days. 1..3650, default 90. */
  max_age_days: number;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
/** `auto`: `pretty` when stdout is a terminal, `json` otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

export interface ClientTypeRule {
  pattern: string;
  client: string;
}

export interface MetricsBuckets {
  request_e2e_latency: number[];
  request_ttft: number[];
  guardrail_latency: number[];
}

export interface ObservabilityConfig {
  service_name: string;
  log_level: LogLevel;
  log_format: LogFormat;
  access_log: boolean;
  metrics: {
    prometheus: { enabled: boolean; path: string; addr: string };
    otlp: { enabled: boolean; endpoint: string | undefined };
    client_type_rules: ClientTypeRule[];
    buckets: MetricsBuckets;
  };
  tracing: {
    otlp: { enabled: boolean; endpoint: string | undefined; sample_ratio: number };
  };
}

export interface OutboundTlsConfig {
  ca_file: string | undefined;
  client_cert_file: string | undefined;
  client_key_file: string | undefined;
  verify: boolean;
}

export interface RedisConnConfig {
  mode: 'single' | 'cluster' | 'sentinel';
  url: string | undefined;
  nodes: string[];
  sentinels: string[];
  master_name: string | undefined;
  username: string | undefined;
  password: string | undefined;
  database: number | undefined;
  tls: OutboundTlsConfig | undefined;
}

export interface CacheConfig {
  backend: 'memory' | 'redis';
  redis: RedisConnConfig | undefined;
}

export interface RatelimitConfig {
  backend: 'memory' | 'redis';
  redis: RedisConnConfig | undefined;
  concurrency_ttl_secs: number;
}

export interface UpstreamConfig {
  timeout_ms: number;
  stream_timeout_ms: number;
  connect_timeout_ms: number;
  tcp_keepalive_secs: number;
  tcp_keepalive_interval_secs: number;
  tcp_keepalive_retries: number;
  pool_idle_timeout_secs: number;
  pool_max_idle_per_host: number | undefined;
  retries: number;
  tls: OutboundTlsConfig;
}

export interface DownstreamConfig {
  idle_timeout_secs: number;
  sse_keepalive_interval_secs: number;
}

export interface ManagedConfig {
  enabled: boolean;
  cp_base_url: string | undefined;
  cp_etcd_endpoint: string | undefined;
  cp_ca_cert_file: string | undefined;
  cp_cert_pem: string | undefined;
  cp_key_pem: string | undefined;
  cp_ca_pem: string | undefined;
  cp_cert_file: string | undefined;
  cp_key_file: string | undefined;
  cp_ca_file: string | undefined;
  mtls_dir: string;
  dp_id_file: string;
  /** Clamped to 5..300. */
  heartbeat_interval_secs: number;
  /** undefined = mode default (managed: `/var/lib/aisix/config_cache.json`, etcd: off);
   * `""` = disabled everywhere; a path enables the cache in any mode. */
  snapshot_cache_path: string | undefined;
}

export interface ShutdownConfig {
  min_drain_secs: number;
  max_drain_secs: number;
}

export interface Config {
  etcd: EtcdConfig;
  resources_file: string | undefined;
  proxy: ProxyConfig;
  admin: AdminConfig;
  observability: ObservabilityConfig;
  cache: CacheConfig;
  ratelimit: RatelimitConfig;
  upstream: UpstreamConfig;
  downstream: DownstreamConfig;
  managed: ManagedConfig;
  /** `""` in the file is normalised to undefined. */
  bedrock_endpoint_url: string | undefined;
  data_dir: string;
  shutdown: ShutdownConfig;
}

/** Where resources come from: etcd (`etcd.endpoints` or managed mode), the resources file,
 * or the embedded store under `data_dir` when neither is configured. */
export type ConfigSource = 'etcd' | 'file' | 'embedded';

export type ConfigResult =
  | { ok: true; config: Config; warnings: string[]; source: ConfigSource }
  | { ok: false; error: string };
