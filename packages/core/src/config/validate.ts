/**
 * Cross-field validation of a decoded config, in the documented order: the first failing
 * rule wins and its message becomes the `<detail>` of the boot failure. The listener and
 * source rules come first, then the checks the reference runs after logging is up (log
 * level, OTLP, managed bundle, etcd TLS/password, histogram buckets, client-type rules).
 * File-reading checks (TLS files exist) are not here: core does no I/O.
 */
import { etcdEndpointsProblem, isCidrOrIp, parseSocketAddr } from './net.js';
import { checkRewriteRule } from './rewrites.js';
import type { Config, OutboundTlsConfig, RedisConnConfig } from './types.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;

type Check = (c: Config) => string | null;

function first(checks: readonly Check[], c: Config): string | null {
  for (const check of checks) {
    const msg = check(c);
    if (msg !== null) return msg;
  }
  return null;
}

const adminBinds = (c: Config): boolean => c.admin.enabled && !c.managed.enabled;

const checkRewrites: Check = (c) => {
  for (const [i, rule] of c.proxy.url_rewrites.entries()) {
    const msg = checkRewriteRule(rule);
    if (msg !== null) return `${rule.name ?? `proxy.url_rewrites[${i}]`}: ${msg}`;
  }
  return null;
};

const checkSource: Check = (c) => {
  if (c.resources_file === undefined) {
    // Neither etcd nor a file: the embedded store lives under data_dir (decisions.md, product paragraph).
    const embedded = !c.managed.enabled && c.etcd.endpoints.length === 0;
    if (embedded && c.data_dir.trim() === '') {
      return 'data_dir must not be empty (the directory of the embedded store, default ./.aisix-data)';
    }
    return null;
  }
  if (c.resources_file.trim() === '') return 'resources_file must not be empty when set';
  if (c.etcd.endpoints.length > 0) {
    return 'config sets both etcd.endpoints and resources_file; they are mutually exclusive';
  }
  if (c.managed.enabled) return 'resources_file cannot be combined with managed.enabled = true';
  return null;
};

const checkEtcdEndpoints: Check = (c) => {
  const p = etcdEndpointsProblem(c.etcd.endpoints);
  if (p !== null) return `etcd.endpoints${p.index === undefined ? '' : `[${p.index}]`}: ${p.message}`;
  if (c.etcd.endpoints.length === 0) return null;
  // Deadlines of the etcd client (decisions.md 6): 0 would be refused when it is created.
  for (const key of ['dial_timeout_ms', 'request_timeout_ms'] as const) {
    if (c.etcd[key] === 0) return `etcd.${key} must be > 0 (milliseconds)`;
  }
  return null;
};

const checkAdmin: Check = (c) => {
  if (!adminBinds(c)) return null;
  if (c.admin.admin_keys.length === 0) {
    return 'admin.admin_keys must contain at least one key (required when managed.enabled is false)';
  }
  const blank = c.admin.admin_keys.findIndex((k) => k.trim() === '');
  if (blank >= 0) return `admin.admin_keys[${blank}] must not be blank`;
  if (parseSocketAddr(c.admin.addr) === null) return `admin.addr invalid socket address: ${c.admin.addr}`;
  const { max_records, max_age_days } = c.admin.audit;
  if (max_records < 1 || max_records > 1_000_000) {
    return `admin.audit.max_records must be from 1 to 1000000 (got ${max_records})`;
  }
  if (max_age_days < 1 || max_age_days > 3650) {
    return `admin.audit.max_age_days must be from 1 to 3650 (got ${max_age_days})`;
  }
  return null;
};

const checkProxy: Check = (c) => {
  if (parseSocketAddr(c.proxy.addr) === null) return `proxy.addr invalid socket address: ${c.proxy.addr}`;
  const bad = c.proxy.real_ip.trusted_proxies.find((p) => !isCidrOrIp(p.trim()));
  if (bad !== undefined) return `proxy.real_ip.trusted_proxies invalid CIDR/IP: ${bad}`;
  if (c.proxy.workers === 0) return 'proxy.workers must be at least 1 (or "auto" for one per CPU)';
  return null;
};

const checkMetricsAddr: Check = (c) => {
  const addr = c.observability.metrics.prometheus.addr;
  return parseSocketAddr(addr) === null
    ? `observability.metrics.prometheus.addr invalid socket address: ${addr}`
    : null;
};

const checkBackends: Check = (c) => {
  if (c.ratelimit.backend === 'redis') {
    if (c.ratelimit.redis === undefined) return 'ratelimit.backend = redis requires a ratelimit.redis block';
    if (c.ratelimit.concurrency_ttl_secs === 0) {
      return 'ratelimit.concurrency_ttl_secs must be > 0 for the redis backend';
    }
  }
  if (c.cache.backend === 'redis' && c.cache.redis === undefined) {
    return 'cache.backend = redis requires a cache.redis block';
  }
  return null;
};

function redisModeError(ctx: string, r: RedisConnConfig): string | null {
  const blank = (s: string | undefined): boolean => s === undefined || s.trim() === '';
  switch (r.mode) {
    case 'single':
      return blank(r.url) ? `${ctx}.url is required when mode = single` : null;
    case 'cluster':
      return r.nodes.some((n) => !blank(n))
        ? null
        : `${ctx}.nodes must list at least one non-blank node when mode = cluster`;
    case 'sentinel':
      if (!r.sentinels.some((n) => !blank(n))) {
        return `${ctx}.sentinels must list at least one sentinel when mode = sentinel`;
      }
      return blank(r.master_name) ? `${ctx}.master_name is required when mode = sentinel` : null;
  }
}

const redisConns = (c: Config): [string, RedisConnConfig][] => {
  const out: [string, RedisConnConfig][] = [];
  if (c.ratelimit.redis) out.push(['ratelimit.redis', c.ratelimit.redis]);
  if (c.cache.redis) out.push(['cache.redis', c.cache.redis]);
  return out;
};

const checkRedisModes: Check = (c) => {
  for (const [ctx, r] of redisConns(c)) {
    const msg = redisModeError(ctx, r);
    if (msg !== null) return msg;
  }
  return null;
};

function pairError(ctx: string, certSet: boolean, keySet: boolean, cert: string, key: string): string | null {
  if (certSet && !keySet) return `${ctx}.${cert} requires ${ctx}.${key}`;
  if (keySet && !certSet) return `${ctx}.${key} requires ${ctx}.${cert}`;
  return null;
}

const tlsPair = (ctx: string, t: OutboundTlsConfig): string | null =>
  pairError(
    ctx,
    t.client_cert_file !== undefined,
    t.client_key_file !== undefined,
    'client_cert_file',
    'client_key_file',
  );

const checkHalfTls: Check = (c) => {
  const up = tlsPair('upstream.tls', c.upstream.tls);
  if (up !== null) return up;
  for (const [ctx, r] of redisConns(c)) {
    const msg = r.tls ? tlsPair(`${ctx}.tls`, r.tls) : null;
    if (msg !== null) return msg;
  }
  return null;
};

const checkLogLevel = (env: Readonly<Record<string, string | undefined>>): Check => {
  // LOG_LEVEL (when set) has already replaced the file value; name the place it came from.
  const where = (env.LOG_LEVEL ?? '').trim() !== '' ? 'LOG_LEVEL' : 'observability.log_level';
  return (c) =>
    (LOG_LEVELS as readonly string[]).includes(c.observability.log_level)
      ? null
      : `${where} invalid: "${c.observability.log_level}" (expected one of ${LOG_LEVELS.join(', ')})`;
};

const checkLogFormat = (env: Readonly<Record<string, string | undefined>>): Check => {
  const where = (env.LOG_FORMAT ?? '').trim() !== '' ? 'LOG_FORMAT' : 'observability.log_format';
  return (c) =>
    (LOG_FORMATS as readonly string[]).includes(c.observability.log_format)
      ? null
      : `${where} invalid: "${c.observability.log_format}" (expected one of ${LOG_FORMATS.join(', ')})`;
};

const checkOtlp: Check = (c) => {
  const t = c.observability.tracing.otlp;
  if (t.enabled && (t.endpoint === undefined || t.endpoint.trim() === '')) {
    return 'observability.tracing.otlp.enabled = true requires observability.tracing.otlp.endpoint';
  }
  if (!(t.sample_ratio >= 0 && t.sample_ratio <= 1)) {
    return 'observability.tracing.otlp.sample_ratio must be between 0 and 1';
  }
  return null;
};

const checkManaged: Check = (c) => {
  const m = c.managed;
  const inline = [m.cp_cert_pem, m.cp_key_pem, m.cp_ca_pem].filter((v) => v !== undefined).length;
  const files = [m.cp_cert_file, m.cp_key_file, m.cp_ca_file].filter((v) => v !== undefined).length;
  const complete = (inline === 3 && files === 0) || (files === 3 && inline === 0);
  if ((m.enabled || inline > 0 || files > 0) && !complete) {
    return 'managed: set either all of cp_cert_pem, cp_key_pem, cp_ca_pem or all of cp_cert_file, cp_key_file, cp_ca_file';
  }
  return null;
};

const checkEtcd = (env: Readonly<Record<string, string | undefined>>): Check => {
  return (c) => {
    const tls = c.etcd.tls;
    if (tls) {
      const msg = pairError(
        'etcd.tls',
        tls.client_cert_file !== undefined,
        tls.client_key_file !== undefined,
        'client_cert_file',
        'client_key_file',
      );
      if (msg !== null) return msg;
    }
    const name = c.etcd.password_env;
    if (name !== undefined && env[name] === undefined) {
      return `etcd.password_env = "${name}" is set but the env var is missing`;
    }
    return null;
  };
};

function bucketError(path: string, edges: number[]): string | null {
  if (edges.length < 1 || edges.length > 64) return `${path} must have 1..64 edges (got ${edges.length})`;
  for (const [i, e] of edges.entries()) {
    if (e === Number.POSITIVE_INFINITY) return `${path}[${i}]: +Inf is implicit and must not be listed`;
    if (!Number.isFinite(e)) return `${path}[${i}] must be finite`;
    if (e <= 0) return `${path}[${i}] must be > 0`;
    const prev = edges[i - 1];
    if (prev !== undefined && e <= prev) return `${path} must be strictly ascending (at index ${i})`;
  }
  return null;
}

const checkBuckets: Check = (c) => {
  const b = c.observability.metrics.buckets;
  for (const key of ['request_e2e_latency', 'request_ttft', 'guardrail_latency'] as const) {
    const msg = bucketError(`observability.metrics.buckets.${key}`, b[key]);
    if (msg !== null) return msg;
  }
  return null;
};

const CLIENT_NAME = /^[a-z0-9][a-z0-9._-]*$/;

const checkClientTypeRules: Check = (c) => {
  const rules = c.observability.metrics.client_type_rules;
  const path = 'observability.metrics.client_type_rules';
  if (rules.length > 64) return `${path} allows at most 64 rules (got ${rules.length})`;
  for (const [i, r] of rules.entries()) {
    const bytes = new TextEncoder().encode(r.pattern).length;
    if (bytes < 1 || bytes > 512) return `${path}[${i}].pattern must be 1..512 bytes`;
    try {
      new RegExp(r.pattern.replace(/\(\?P</g, '(?<'), 'i');
    } catch (e) {
      return `${path}[${i}].pattern invalid regex: ${e instanceof Error ? e.message : String(e)}`;
    }
    if (r.client.length > 64 || !CLIENT_NAME.test(r.client)) {
      return `${path}[${i}].client must match [a-z0-9][a-z0-9._-]* and be at most 64 characters`;
    }
  }
  return null;
};

/** Runs every rule in order; returns the first failure message or null. */
export function validateConfig(c: Config, env: Readonly<Record<string, string | undefined>>): string | null {
  return first(
    [
      checkRewrites,
      checkSource,
      checkEtcdEndpoints,
      checkAdmin,
      checkProxy,
      checkMetricsAddr,
      checkBackends,
      checkRedisModes,
      checkHalfTls,
      checkLogLevel(env),
      checkLogFormat(env),
      checkOtlp,
      checkManaged,
      checkEtcd(env),
      checkBuckets,
      checkClientTypeRules,
    ],
    c,
  );
}

/** The admin key `config.yaml` ships with (README quick start): public, so never a secret. */
export const PLACEHOLDER_ADMIN_KEY = 'change-me-admin-key';
/** Below this an admin key is short enough to guess. */
export const MIN_ADMIN_KEY_LENGTH = 16;

/**
 * Warnings for a config that is valid but unsafe: admin keys that are the published placeholder
 * or short. Keys are named by index, never echoed.
 */
export function configWarnings(c: Config): string[] {
  const out: string[] = [];
  if (!adminBinds(c)) return out;
  c.admin.admin_keys.forEach((k, i) => {
    if (k === PLACEHOLDER_ADMIN_KEY) {
      out.push(
        `admin.admin_keys[${i}] is the placeholder from the quick start: anyone who read the README can administer this gateway on ${c.admin.addr}; set your own key (e.g. \`openssl rand -hex 32\`)`,
      );
    } else if (k.length < MIN_ADMIN_KEY_LENGTH) {
      out.push(
        `admin.admin_keys[${i}] is shorter than ${MIN_ADMIN_KEY_LENGTH} characters: easy to guess; use a long random key (e.g. \`openssl rand -hex 32\`)`,
      );
    }
  });
  return out;
}
