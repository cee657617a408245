/** Loading config.yaml: defaults, formats, unknown keys, source selection, the spec's examples. */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here is config text under test, not a template.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { formatConfigFailure, parseConfig } from './load.js';
import type { Config, ConfigResult } from './types.js';

const MINIMAL = 'proxy: {addr: "0.0.0.0:3000"}\nadmin: {admin_keys: ["k"]}\n';

function load(
  text: string,
  env: Record<string, string | undefined> = {},
  path = 'config.yaml',
): ConfigResult {
  return parseConfig({ text, path, env });
}

function ok(text: string, env: Record<string, string | undefined> = {}, path = 'config.yaml') {
  const r = load(text, env, path);
  if (!r.ok) assert.fail(`expected ok, got ${r.error}`);
  return r;
}

function err(text: string, env: Record<string, string | undefined> = {}, path = 'config.yaml'): string {
  const r = load(text, env, path);
  assert.equal(r.ok, false, 'expected a failure');
  return r.ok ? '' : r.error;
}

describe('defaults', () => {
  it('fills every default of the contract', () => {
    const c: Config = ok(MINIMAL).config;
    assert.deepEqual(c.etcd.endpoints, []);
    assert.equal(c.etcd.prefix, '/aisix');
    assert.equal(c.etcd.env_id, '');
    assert.equal(c.etcd.dial_timeout_ms, 5000);
    assert.equal(c.etcd.request_timeout_ms, 5000);
    assert.equal(c.etcd.tls, undefined);
    assert.equal(c.resources_file, undefined);
    assert.equal(c.proxy.request_body_limit_bytes, 0);
    assert.deepEqual(c.proxy.real_ip, { trusted_proxies: [], recursive: false, header: 'x-forwarded-for' });
    assert.equal(c.proxy.workers, 1);
    assert.deepEqual(c.proxy.url_rewrites, []);
    assert.equal(c.admin.enabled, true);
    assert.equal(c.admin.addr, '127.0.0.1:3001');
    const o = c.observability;
    assert.equal(o.service_name, 'aisix');
    assert.equal(o.log_level, 'info');
    assert.equal(o.access_log, true);
    assert.deepEqual(o.metrics.prometheus, { enabled: true, path: '/metrics', addr: '0.0.0.0:9090' });
    assert.equal(o.metrics.otlp.enabled, false);
    assert.deepEqual(o.metrics.client_type_rules, []);
    assert.equal(o.metrics.buckets.request_e2e_latency.length, 17);
    assert.equal(o.metrics.buckets.request_e2e_latency[0], 0.005);
    assert.equal(o.metrics.buckets.request_e2e_latency[16], 600);
    assert.deepEqual(o.metrics.buckets.request_ttft, [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]);
    assert.equal(o.metrics.buckets.guardrail_latency.length, 14);
    assert.equal(o.metrics.buckets.guardrail_latency[13], 30);
    assert.equal(o.tracing.otlp.enabled, false);
    assert.equal(o.tracing.otlp.sample_ratio, 1.0);
    assert.equal(c.cache.backend, 'memory');
    assert.equal(c.ratelimit.backend, 'memory');
    assert.equal(c.ratelimit.concurrency_ttl_secs, 300);
    assert.equal(c.upstream.timeout_ms, 6_000_000);
    assert.equal(c.upstream.stream_timeout_ms, 0);
    assert.equal(c.upstream.connect_timeout_ms, 5000);
    assert.equal(c.upstream.tcp_keepalive_secs, 60);
    assert.equal(c.upstream.tcp_keepalive_interval_secs, 30);
    assert.equal(c.upstream.tcp_keepalive_retries, 5);
    assert.equal(c.upstream.pool_idle_timeout_secs, 30);
    assert.equal(c.upstream.pool_max_idle_per_host, undefined);
    assert.equal(c.upstream.retries, 2);
    assert.equal(c.upstream.tls.verify, true);
    assert.deepEqual(c.downstream, { idle_timeout_secs: 0, sse_keepalive_interval_secs: 15 });
    assert.equal(c.managed.enabled, false);
    assert.equal(c.managed.mtls_dir, '/var/lib/aisix/mtls');
    assert.equal(c.managed.dp_id_file, '/var/lib/aisix/dp_id');
    assert.equal(c.managed.heartbeat_interval_secs, 15);
    assert.equal(c.managed.snapshot_cache_path, undefined);
    assert.equal(c.bedrock_endpoint_url, undefined);
    assert.equal(c.data_dir, './.aisix-data');
    assert.deepEqual(c.shutdown, { min_drain_secs: 1, max_drain_secs: 30 });
  });

  it('keeps an explicit empty snapshot_cache_path distinct from unset', () => {
    assert.equal(ok(`${MINIMAL}managed: {snapshot_cache_path: ""}`).config.managed.snapshot_cache_path, '');
  });

  it('treats bedrock_endpoint_url "" as unset', () => {
    assert.equal(ok(`${MINIMAL}bedrock_endpoint_url: ""`).config.bedrock_endpoint_url, undefined);
  });

  it('normalises the prometheus path: blank -> /metrics, leading slash added', () => {
    const p = (path: string) =>
      ok(`${MINIMAL}observability: {metrics: {prometheus: {path: "${path}"}}}`).config.observability.metrics
        .prometheus.path;
    assert.equal(p(' '), '/metrics');
    assert.equal(p('prom'), '/prom');
    assert.equal(p('/x'), '/x');
  });
});

describe('required keys, types and unknown keys', () => {
  it('proxy is required', () => {
    assert.match(err('admin: {admin_keys: [k]}'), /^deserialize: .*proxy/);
  });

  it('proxy.addr is required', () => {
    assert.match(err('proxy: {}\nadmin: {admin_keys: [k]}'), /^deserialize: .*proxy\.addr/);
  });

  it('an empty file is a missing-proxy deserialize error', () => {
    assert.match(err(''), /^deserialize: .*proxy/);
  });

  it('an unknown key anywhere in the file is fatal and names its path', () => {
    assert.match(err(`${MINIMAL}foo: 1`), /^deserialize: unknown field `foo`/);
    assert.match(
      err('proxy: {addr: "0.0.0.0:3000", real_ip: {trusted: []}}\nadmin: {admin_keys: [k]}'),
      /^deserialize: unknown field `proxy\.real_ip\.trusted`/,
    );
    assert.match(
      err(`${MINIMAL}observability: {metrics: {prometheus: {port: 9}}}`),
      /unknown field `observability\.metrics\.prometheus\.port`/,
    );
    assert.match(
      err(
        'proxy: {addr: "0.0.0.0:3000", url_rewrites: [{match: "^/a$", rewrite: "/b", x: 1}]}\nadmin: {admin_keys: [k]}',
      ),
      /unknown field `proxy\.url_rewrites\[0\]\.x`/,
    );
    assert.match(err(`${MINIMAL}etcd: {password: "p"}`), /unknown field `etcd\.password`/);
  });

  it('a wrong type is a deserialize error that does not quote the value', () => {
    const e = err('proxy: {addr: "0.0.0.0:3000"}\nadmin: {admin_keys: "super-secret-value"}');
    assert.match(e, /^deserialize: admin\.admin_keys: invalid type/);
    assert.doesNotMatch(e, /super-secret-value/);
    assert.match(err(`${MINIMAL}upstream: {retries: -1}`), /^deserialize: upstream\.retries/);
    assert.match(
      err('proxy: {addr: "0.0.0.0:3000"}\nadmin: {admin_keys: [k], enabled: "yes"}'),
      /^deserialize: admin\.enabled/,
    );
    assert.match(err(`${MINIMAL}cache: {backend: disk}`), /^deserialize: cache\.backend/);
  });

  it('unparseable text is a build error', () => {
    assert.match(err('proxy: [unclosed'), /^build: /);
    assert.match(err('{"proxy": ', {}, 'c.json'), /^build: /);
    assert.match(err('- a\n- b'), /^build: .*mapping/);
    assert.match(err(`${MINIMAL}---\n${MINIMAL}`), /^build: /);
  });

  it('broken JSON is located, never quoted (the text around the error may be a secret)', () => {
    const broken = '{"proxy": {"addr": "0.0.0.0:3000"},\n "admin": {"admin_keys": [CANARY-ADMIN-7f3a-key]}}';
    const e = err(broken, {}, 'c.json');
    assert.match(e, /^build: c\.json: invalid JSON/);
    assert.ok(!e.includes('CANARY'), e);
    assert.equal(
      err('{"a": 1,\n "b": 2 x}', {}, 'c.json'),
      'build: c.json: invalid JSON at line 2, column 9',
    );
  });

  it('.toml is refused with a clear build error; .json and .yml load', () => {
    assert.match(err('[proxy]\naddr = "0.0.0.0:3000"', {}, 'config.toml'), /^build: .*TOML .*not supported/);
    const json = '{"proxy": {"addr": "0.0.0.0:3000"}, "admin": {"admin_keys": ["k"]}}';
    assert.equal(ok(json, {}, 'config.json').config.proxy.addr, '0.0.0.0:3000');
    assert.equal(ok(MINIMAL, {}, 'c.yml').config.proxy.addr, '0.0.0.0:3000');
  });

  it('does not interpolate ${VAR} in config.yaml', () => {
    const c = ok('proxy: {addr: "0.0.0.0:3000"}\nadmin: {admin_keys: ["${AISIX_ADMIN_KEY}"]}', {
      AISIX_ADMIN_KEY: 'real',
    }).config;
    assert.deepEqual(c.admin.admin_keys, ['${AISIX_ADMIN_KEY}']);
  });

  it('accepts a JSON-array string (or blank) for lists of objects inside the file', () => {
    const c = ok(
      `proxy: {addr: "0.0.0.0:3000", url_rewrites: '[{"match":"^/x$","rewrite":"/y"}]'}\nadmin: {admin_keys: [k]}\n` +
        'observability: {metrics: {client_type_rules: " "}}',
    ).config;
    assert.deepEqual(c.proxy.url_rewrites, [{ name: undefined, match: '^/x$', rewrite: '/y' }]);
    assert.deepEqual(c.observability.metrics.client_type_rules, []);
  });
});

describe('workers and thread_per_core', () => {
  const w = (proxy: string) =>
    ok(`proxy: {addr: "0.0.0.0:3000"${proxy}}\nadmin: {admin_keys: [k]}`).config.proxy.workers;
  it('defaults to 1, accepts numbers and auto', () => {
    assert.equal(w(''), 1);
    assert.equal(w(', workers: 4'), 4);
    assert.equal(w(', workers: auto'), 'auto');
  });
  it('thread_per_core: true means auto; an explicit workers wins', () => {
    assert.equal(w(', thread_per_core: true'), 'auto');
    assert.equal(w(', thread_per_core: false'), 1);
    assert.equal(w(', thread_per_core: true, workers: 2'), 2);
  });
  it('rejects 0 and other strings', () => {
    assert.match(
      err('proxy: {addr: "0.0.0.0:3000", workers: 0}\nadmin: {admin_keys: [k]}'),
      /proxy\.workers must be at least 1/,
    );
    assert.match(
      err('proxy: {addr: "0.0.0.0:3000", workers: many}\nadmin: {admin_keys: [k]}'),
      /^deserialize: proxy\.workers/,
    );
  });
});

describe('source selection', () => {
  it('etcd when endpoints are set', () => {
    assert.equal(ok(`${MINIMAL}etcd: {endpoints: ["http://127.0.0.1:2379"]}`).source, 'etcd');
  });
  it('file when resources_file is set', () => {
    assert.equal(ok(`${MINIMAL}resources_file: ./resources.yaml`).source, 'file');
  });
  it('embedded when neither is set (not an error)', () => {
    assert.equal(ok(MINIMAL).source, 'embedded');
  });
  it('etcd in managed mode (admin keys not required, the admin listener never binds)', () => {
    const r = ok(
      'proxy: {addr: "0.0.0.0:3000"}\nmanaged: {enabled: true, cp_cert_pem: a, cp_key_pem: b, cp_ca_pem: c}',
    );
    assert.equal(r.source, 'etcd');
  });
});

describe('LOG_LEVEL', () => {
  it('overrides observability.log_level', () => {
    const c = ok(`${MINIMAL}observability: {log_level: warn}`, { LOG_LEVEL: 'debug' }).config;
    assert.equal(c.observability.log_level, 'debug');
  });
  it('blank LOG_LEVEL leaves the file value', () => {
    assert.equal(
      ok(`${MINIMAL}observability: {log_level: warn}`, { LOG_LEVEL: ' ' }).config.observability.log_level,
      'warn',
    );
  });
  it('an invalid LOG_LEVEL fails and names LOG_LEVEL', () => {
    assert.match(err(MINIMAL, { LOG_LEVEL: 'verbose' }), /LOG_LEVEL invalid: "verbose"/);
  });
  it('accepts every documented level and rejects others in the file', () => {
    for (const l of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) {
      assert.equal(ok(`${MINIMAL}observability: {log_level: ${l}}`).config.observability.log_level, l);
    }
    assert.match(err(`${MINIMAL}observability: {log_level: loud}`), /observability\.log_level invalid/);
  });
});

describe('log_format and LOG_FORMAT', () => {
  it('defaults to auto (pretty on a terminal, JSON otherwise)', () => {
    assert.equal(ok(MINIMAL).config.observability.log_format, 'auto');
  });
  it('accepts json and pretty in the file, case-insensitively', () => {
    assert.equal(ok(`${MINIMAL}observability: {log_format: json}`).config.observability.log_format, 'json');
    assert.equal(
      ok(`${MINIMAL}observability: {log_format: Pretty}`).config.observability.log_format,
      'pretty',
    );
  });
  it('LOG_FORMAT overrides the file; blank leaves it', () => {
    const file = `${MINIMAL}observability: {log_format: json}`;
    assert.equal(ok(file, { LOG_FORMAT: 'pretty' }).config.observability.log_format, 'pretty');
    assert.equal(ok(file, { LOG_FORMAT: ' ' }).config.observability.log_format, 'json');
  });
  it('rejects other formats and names where the value came from', () => {
    assert.match(
      err(`${MINIMAL}observability: {log_format: text}`),
      /observability\.log_format invalid: "text"/,
    );
    assert.match(err(MINIMAL, { LOG_FORMAT: 'color' }), /LOG_FORMAT invalid: "color"/);
  });
});

describe('etcd password_env and TLS', () => {
  const base = `${MINIMAL}etcd: {endpoints: ["https://10.0.0.1:2379"], user: root, password_env: ETCD_PW`;
  it('missing env var fails with the contract message', () => {
    assert.equal(err(`${base}}`), 'etcd.password_env = "ETCD_PW" is set but the env var is missing');
  });
  it('resolves the password into a redacted field', () => {
    const c = ok(`${base}}`, { ETCD_PW: 'hunter2' }).config;
    assert.equal(c.etcd.password?.reveal(), 'hunter2');
    assert.doesNotMatch(JSON.stringify(c), /hunter2/);
    assert.doesNotMatch(inspect(c, { depth: 10 }), /hunter2/);
    assert.doesNotMatch(String(c.etcd.password), /hunter2/);
  });
  it('tls needs ca_cert_file; client cert/key are optional but go together', () => {
    assert.match(
      err(`${MINIMAL}etcd: {tls: {client_cert_file: c, client_key_file: k}}`),
      /^deserialize: .*etcd\.tls\.ca_cert_file/,
    );
    assert.equal(ok(`${MINIMAL}etcd: {tls: {ca_cert_file: ca.pem}}`).config.etcd.tls?.ca_cert_file, 'ca.pem');
    assert.match(
      err(`${MINIMAL}etcd: {tls: {ca_cert_file: ca, client_cert_file: c}}`),
      /etcd\.tls\.client_cert_file requires etcd\.tls\.client_key_file/,
    );
    assert.match(
      err(`${MINIMAL}etcd: {tls: {ca_cert_file: ca, client_key_file: k}}`),
      /etcd\.tls\.client_key_file requires etcd\.tls\.client_cert_file/,
    );
  });
});

describe('formatConfigFailure', () => {
  it('renders the CLI line', () => {
    assert.equal(
      formatConfigFailure('deserialize: missing field `proxy`'),
      'Error: config load failed: failed to load configuration: deserialize: missing field `proxy`',
    );
  });
});

describe('minimal examples of the spec', () => {
  it('the etcd-mode config.yaml loads', () => {
    const text = [
      'etcd: {endpoints: ["http://127.0.0.1:2379"], prefix: "/aisix"}',
      'proxy: {addr: "0.0.0.0:3000"}',
      'admin: {addr: "127.0.0.1:3001", admin_keys: ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]}',
      'observability: {metrics: {prometheus: {addr: "127.0.0.1:9090"}}}',
    ].join('\n');
    const r = ok(text);
    assert.equal(r.source, 'etcd');
    assert.deepEqual(r.config.etcd.endpoints, ['http://127.0.0.1:2379']);
    assert.equal(r.config.observability.metrics.prometheus.addr, '127.0.0.1:9090');
    assert.deepEqual(r.warnings, []);
  });
  it('the file-mode variant loads', () => {
    const r = ok(
      'resources_file: resources.yaml\nproxy: {addr: "0.0.0.0:3000"}\nadmin: {admin_keys: [change-me]}',
    );
    assert.equal(r.source, 'file');
  });
});

describe('${VAR} placeholders (config.yaml has no interpolation)', () => {
  it('are used as written, with a warning naming the environment override to use instead', () => {
    const r = ok(
      `${MINIMAL}ratelimit: {backend: redis, redis: {url: "redis://127.0.0.1:6379", password: "\${REDIS_PASSWORD}"}}\n` +
        'etcd: {endpoints: ["http://${ETCD_HOST}:2379"]}\n',
    );
    assert.equal(r.config.ratelimit.redis?.password, '${REDIS_PASSWORD}');
    assert.deepEqual(
      r.warnings.filter((w) => w.includes('placeholder')),
      [
        'ratelimit.redis.password: a `${...}` placeholder is used as written (config.yaml has no interpolation); set the environment variable AISIX_RATELIMIT__REDIS__PASSWORD instead',
        'etcd.endpoints: a `${...}` placeholder is used as written (config.yaml has no interpolation); set the environment variable AISIX_ETCD__ENDPOINTS instead',
      ],
    );
  });

  it('warn about nothing when the override is set, or when no value looks like a placeholder', () => {
    const text = `${MINIMAL}ratelimit: {backend: redis, redis: {url: "redis://r:6379", password: "\${P}"}}\n`;
    const set = ok(text, { AISIX_RATELIMIT__REDIS__PASSWORD: 's3cret' });
    assert.deepEqual(
      set.warnings.filter((w) => w.includes('placeholder')),
      [],
    );
    const plain = ok(`${MINIMAL}ratelimit: {redis: {url: "redis://r:6379", password: "p$x{y}"}}`);
    assert.deepEqual(
      plain.warnings.filter((w) => w.includes('placeholder')),
      [],
    );
  });
});
