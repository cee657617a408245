/**
 * The config.yaml schema as one declarative tree: every key, its type and its default.
 * The same tree drives three things, so they cannot drift: strict decoding of the file
 * (unknown keys fatal), mapping `AISIX_A__B` env variables to key paths with type-driven
 * coercion, and filling defaults. A hand-written tree instead of valibot because the env
 * mapper must walk the key structure and the messages must name full key paths.
 * Cross-field rules live in `validate.ts`.
 */

export type FieldSpec =
  | { readonly t: 'string'; readonly def?: string; readonly required?: true }
  | { readonly t: 'bool'; readonly def?: boolean }
  | { readonly t: 'uint'; readonly def?: number }
  | { readonly t: 'number'; readonly def?: number }
  | { readonly t: 'enum'; readonly values: readonly string[]; readonly def: string }
  /** A positive integer or the string `auto`. */
  | { readonly t: 'workers' }
  /** `comma`: env values are split on commas (only for the keys the contract lists). */
  | { readonly t: 'stringList'; readonly comma?: true }
  | { readonly t: 'numberList'; readonly def: readonly number[]; readonly comma?: true }
  /** A list of objects; also accepted as one JSON array string (blank = empty list). */
  | { readonly t: 'objectList'; readonly item: ObjectSpec }
  /** `optional`: absent = undefined; otherwise an absent section is filled with defaults. */
  | { readonly t: 'object'; readonly spec: ObjectSpec; readonly optional?: true; readonly required?: true };

export type ObjectSpec = { readonly [key: string]: FieldSpec };

const str = (def?: string): FieldSpec => (def === undefined ? { t: 'string' } : { t: 'string', def });
const req: FieldSpec = { t: 'string', required: true };
const bool = (def?: boolean): FieldSpec => (def === undefined ? { t: 'bool' } : { t: 'bool', def });
const uint = (def?: number): FieldSpec => (def === undefined ? { t: 'uint' } : { t: 'uint', def });
const obj = (spec: ObjectSpec): FieldSpec => ({ t: 'object', spec });
const optObj = (spec: ObjectSpec): FieldSpec => ({ t: 'object', spec, optional: true });
const strList = (comma?: true): FieldSpec => (comma ? { t: 'stringList', comma } : { t: 'stringList' });

export const DEFAULT_BUCKETS = {
  request_e2e_latency: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 420, 600],
  request_ttft: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
  guardrail_latency: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
} as const;

const outboundTls: ObjectSpec = {
  ca_file: str(),
  client_cert_file: str(),
  client_key_file: str(),
  verify: bool(true),
};

const serverTls: ObjectSpec = { cert_file: req, key_file: req };

const redisConn: ObjectSpec = {
  mode: { t: 'enum', values: ['single', 'cluster', 'sentinel'], def: 'single' },
  url: str(),
  nodes: strList(),
  sentinels: strList(),
  master_name: str(),
  username: str(),
  password: str(),
  database: uint(),
  tls: optObj(outboundTls),
};

export const CONFIG_SPEC: ObjectSpec = {
  etcd: obj({
    endpoints: strList(true),
    prefix: str('/aisix'),
    env_id: str(''),
    user: str(),
    password_env: str(),
    dial_timeout_ms: uint(5000),
    request_timeout_ms: uint(5000),
    tls: optObj({ ca_cert_file: req, client_cert_file: str(), client_key_file: str(), domain_name: str() }),
  }),
  resources_file: str(),
  proxy: {
    t: 'object',
    required: true,
    spec: {
      addr: req,
      request_body_limit_bytes: uint(0),
      tls: optObj(serverTls),
      real_ip: obj({
        trusted_proxies: strList(true),
        recursive: bool(false),
        header: str('x-forwarded-for'),
      }),
      thread_per_core: bool(),
      workers: { t: 'workers' },
      url_rewrites: { t: 'objectList', item: { name: str(), match: req, rewrite: req } },
    },
  },
  admin: obj({
    enabled: bool(true),
    addr: str('127.0.0.1:3001'),
    admin_keys: strList(true),
    tls: optObj(serverTls),
    audit: obj({ max_records: uint(10_000), max_age_days: uint(90) }),
  }),
  observability: obj({
    service_name: str('aisix'),
    log_level: str('info'),
    log_format: str('auto'),
    access_log: bool(true),
    metrics: obj({
      prometheus: obj({ enabled: bool(true), path: str('/metrics'), addr: str('0.0.0.0:9090') }),
      otlp: obj({ enabled: bool(false), endpoint: str() }),
      client_type_rules: { t: 'objectList', item: { pattern: req, client: req } },
      buckets: obj({
        request_e2e_latency: { t: 'numberList', def: DEFAULT_BUCKETS.request_e2e_latency, comma: true },
        request_ttft: { t: 'numberList', def: DEFAULT_BUCKETS.request_ttft, comma: true },
        guardrail_latency: { t: 'numberList', def: DEFAULT_BUCKETS.guardrail_latency, comma: true },
      }),
    }),
    tracing: obj({
      otlp: obj({ enabled: bool(false), endpoint: str(), sample_ratio: { t: 'number', def: 1.0 } }),
    }),
  }),
  cache: obj({
    backend: { t: 'enum', values: ['memory', 'redis'], def: 'memory' },
    redis: optObj(redisConn),
  }),
  ratelimit: obj({
    backend: { t: 'enum', values: ['memory', 'redis'], def: 'memory' },
    redis: optObj(redisConn),
    concurrency_ttl_secs: uint(300),
  }),
  upstream: obj({
    timeout_ms: uint(6_000_000),
    stream_timeout_ms: uint(0),
    connect_timeout_ms: uint(5000),
    tcp_keepalive_secs: uint(60),
    tcp_keepalive_interval_secs: uint(30),
    tcp_keepalive_retries: uint(5),
    pool_idle_timeout_secs: uint(30),
    pool_max_idle_per_host: uint(),
    retries: uint(2),
    tls: obj(outboundTls),
  }),
  downstream: obj({ idle_timeout_secs: uint(0), sse_keepalive_interval_secs: uint(15) }),
  managed: obj({
    enabled: bool(false),
    cp_base_url: str(),
    cp_etcd_endpoint: str(),
    cp_ca_cert_file: str(),
    cp_cert_pem: str(),
    cp_key_pem: str(),
    cp_ca_pem: str(),
    cp_cert_file: str(),
    cp_key_file: str(),
    cp_ca_file: str(),
    mtls_dir: str('/var/lib/aisix/mtls'),
    dp_id_file: str('/var/lib/aisix/dp_id'),
    heartbeat_interval_secs: uint(15),
    snapshot_cache_path: str(),
  }),
  bedrock_endpoint_url: str(),
  data_dir: str('./.aisix-data'),
  shutdown: obj({ min_drain_secs: uint(1), max_drain_secs: uint(30) }),
};
