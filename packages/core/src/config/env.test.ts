/** `AISIX_*` environment overrides: nesting, coercion, comma lists, JSON lists, unknown names. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from './load.js';

const MINIMAL = 'proxy: {addr: "0.0.0.0:3000"}\nadmin: {admin_keys: ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]}\n';

function ok(env: Record<string, string | undefined>, text = MINIMAL) {
  const r = parseConfig({ text, path: 'config.yaml', env });
  if (!r.ok) assert.fail(`expected ok, got ${r.error}`);
  return r;
}

function err(env: Record<string, string | undefined>, text = MINIMAL): string {
  const r = parseConfig({ text, path: 'config.yaml', env });
  assert.equal(r.ok, false, 'expected a failure');
  return r.ok ? '' : r.error;
}

describe('env overrides', () => {
  it('__ nests and single underscores stay in the key name', () => {
    const c = ok({
      AISIX_PROXY__ADDR: '127.0.0.1:4000',
      AISIX_ETCD__DIAL_TIMEOUT_MS: '250',
      AISIX_OBSERVABILITY__METRICS__PROMETHEUS__ADDR: '127.0.0.1:9999',
    }).config;
    assert.equal(c.proxy.addr, '127.0.0.1:4000');
    assert.equal(c.etcd.dial_timeout_ms, 250);
    assert.equal(c.observability.metrics.prometheus.addr, '127.0.0.1:9999');
  });

  it('env wins over the file, the file over defaults', () => {
    const c = ok(
      { AISIX_UPSTREAM__RETRIES: '7' },
      `${MINIMAL}upstream: {retries: 3, connect_timeout_ms: 10}`,
    ).config;
    assert.equal(c.upstream.retries, 7);
    assert.equal(c.upstream.connect_timeout_ms, 10);
    assert.equal(c.upstream.timeout_ms, 6_000_000);
  });

  it('coerces booleans, integers and floats by the key type', () => {
    const c = ok({
      AISIX_ADMIN__ENABLED: 'false',
      AISIX_PROXY__REAL_IP__RECURSIVE: 'TRUE',
      AISIX_PROXY__REQUEST_BODY_LIMIT_BYTES: '1024',
      AISIX_OBSERVABILITY__TRACING__OTLP__SAMPLE_RATIO: '0.25',
      AISIX_OBSERVABILITY__SERVICE_NAME: '123',
    }).config;
    assert.equal(c.admin.enabled, false);
    assert.equal(c.proxy.real_ip.recursive, true);
    assert.equal(c.proxy.request_body_limit_bytes, 1024);
    assert.equal(c.observability.tracing.otlp.sample_ratio, 0.25);
    assert.equal(c.observability.service_name, '123', 'a string key stays a string');
  });

  it('a value that does not coerce is a deserialize error naming the key and the variable', () => {
    const e = err({ AISIX_UPSTREAM__RETRIES: 'lots' });
    assert.match(e, /^deserialize: upstream\.retries \(from AISIX_UPSTREAM__RETRIES\)/);
    assert.match(err({ AISIX_ADMIN__ENABLED: 'yes' }), /^deserialize: admin\.enabled/);
  });

  it('workers accepts a number or auto', () => {
    assert.equal(ok({ AISIX_PROXY__WORKERS: '3' }).config.proxy.workers, 3);
    assert.equal(ok({ AISIX_PROXY__WORKERS: 'auto' }).config.proxy.workers, 'auto');
    assert.equal(ok({ AISIX_PROXY__THREAD_PER_CORE: 'true' }).config.proxy.workers, 'auto');
    assert.match(err({ AISIX_PROXY__WORKERS: '0' }), /proxy\.workers must be at least 1/);
  });

  it('splits comma lists for the listed keys', () => {
    const c = ok({
      AISIX_ETCD__ENDPOINTS: 'http://a:2379, http://b:2379',
      AISIX_ADMIN__ADMIN_KEYS: 'k1,k2',
      AISIX_PROXY__REAL_IP__TRUSTED_PROXIES: '10.0.0.0/8,127.0.0.1',
      AISIX_OBSERVABILITY__METRICS__BUCKETS__REQUEST_E2E_LATENCY: '0.1,1,10',
      AISIX_OBSERVABILITY__METRICS__BUCKETS__REQUEST_TTFT: '0.5,2',
      AISIX_OBSERVABILITY__METRICS__BUCKETS__GUARDRAIL_LATENCY: '0.01',
    }).config;
    assert.deepEqual(c.etcd.endpoints, ['http://a:2379', 'http://b:2379']);
    assert.deepEqual(c.admin.admin_keys, ['k1', 'k2']);
    assert.deepEqual(c.proxy.real_ip.trusted_proxies, ['10.0.0.0/8', '127.0.0.1']);
    assert.deepEqual(c.observability.metrics.buckets.request_e2e_latency, [0.1, 1, 10]);
    assert.deepEqual(c.observability.metrics.buckets.request_ttft, [0.5, 2]);
    assert.deepEqual(c.observability.metrics.buckets.guardrail_latency, [0.01]);
  });

  it('refuses a blank comma list instead of reading it as empty (no silent switch to the embedded store)', () => {
    const text = `${MINIMAL}etcd: {endpoints: ["http://127.0.0.1:2379"]}`;
    for (const [name, key] of [
      ['AISIX_ETCD__ENDPOINTS', 'etcd.endpoints'],
      ['AISIX_ADMIN__ADMIN_KEYS', 'admin.admin_keys'],
      ['AISIX_PROXY__REAL_IP__TRUSTED_PROXIES', 'proxy.real_ip.trusted_proxies'],
      ['AISIX_OBSERVABILITY__METRICS__BUCKETS__REQUEST_TTFT', 'observability.metrics.buckets.request_ttft'],
    ] as const) {
      for (const blank of ['', '  ']) {
        const e = err({ [name]: blank }, text);
        assert.ok(
          e.startsWith(`deserialize: ${key} (from ${name}): invalid type: expected a comma-separated list`),
          e,
        );
      }
    }
  });

  it('never splits other strings on commas', () => {
    const text = `${MINIMAL}ratelimit: {backend: redis, redis: {url: "redis://x"}}`;
    const c = ok(
      { AISIX_RATELIMIT__REDIS__PASSWORD: 'a,b,c', AISIX_RESOURCES_FILE: 'x,y.yaml' },
      text,
    ).config;
    assert.equal(c.ratelimit.redis?.password, 'a,b,c');
    assert.equal(c.resources_file, 'x,y.yaml');
    // A list key outside the comma list does not accept the comma form.
    assert.match(err({ AISIX_CACHE__REDIS__NODES: 'a:1,b:2' }), /^deserialize: cache\.redis\.nodes/);
  });

  it('takes lists of objects as one JSON array string; blank = []', () => {
    const c = ok({
      AISIX_PROXY__URL_REWRITES: '[{"match":"^/x$","rewrite":"/y"}]',
      AISIX_OBSERVABILITY__METRICS__CLIENT_TYPE_RULES: '[{"pattern":"curl","client":"curl"}]',
    }).config;
    assert.deepEqual(c.proxy.url_rewrites, [{ name: undefined, match: '^/x$', rewrite: '/y' }]);
    assert.deepEqual(c.observability.metrics.client_type_rules, [{ pattern: 'curl', client: 'curl' }]);
    const text = `proxy: {addr: "0.0.0.0:3000", url_rewrites: [{match: "^/a$", rewrite: "/b"}]}\nadmin: {admin_keys: [0f1e2d3c4b5a69788796a5b4c3d2e1f0]}`;
    assert.deepEqual(ok({ AISIX_PROXY__URL_REWRITES: '  ' }, text).config.proxy.url_rewrites, []);
    assert.match(err({ AISIX_PROXY__URL_REWRITES: '{not json' }), /^deserialize: proxy\.url_rewrites/);
    assert.match(
      err({ AISIX_PROXY__URL_REWRITES: '[{"match":"^/x$"}]' }),
      /proxy\.url_rewrites\[0\]\.rewrite/,
    );
  });

  it('creates sections the file does not have', () => {
    const c = ok({ AISIX_ETCD__TLS__CA_CERT_FILE: '/ca.pem', AISIX_CACHE__REDIS__URL: 'redis://r' }).config;
    assert.equal(c.etcd.tls?.ca_cert_file, '/ca.pem');
    assert.equal(c.cache.redis?.url, 'redis://r');
    assert.equal(c.cache.redis?.mode, 'single');
  });

  it('an AISIX_* variable naming no key is ignored with one warning, not fatal', () => {
    const r = ok({ AISIX_ADMIN_TOKEN: 'secret-value', AISIX_CONFIG_PATH: '/x', AISIX_PROXY__NOPE: '1' });
    assert.equal(r.warnings.length, 3);
    assert.ok(r.warnings.some((w) => w.includes('AISIX_ADMIN_TOKEN')));
    assert.ok(
      r.warnings.every((w) => !w.includes('secret-value')),
      'warnings never echo the value',
    );
  });

  it('AISIX_CONFIG and AISIX_ADMIN_KEY belong to the CLI and do not warn', () => {
    assert.deepEqual(ok({ AISIX_CONFIG: 'config.yaml' }).warnings, []);
    // The key of `aisix export/diff/apply` (and of docker-compose.yml) is not a config key.
    assert.deepEqual(ok({ AISIX_ADMIN_KEY: 'k-0123456789' }).warnings, []);
  });

  it('the variable etcd.password_env names is in use: no "ignoring" warning for it', () => {
    // control-plane §9.5: the reference example reads the password from AISIX_ETCD_PASSWORD.
    const text = `${MINIMAL}etcd: {endpoints: ["http://127.0.0.1:2379"], user: root, password_env: AISIX_ETCD_PASSWORD}\n`;
    const r = ok({ AISIX_ETCD_PASSWORD: 'pw-value' }, text);
    assert.equal(r.config.etcd.password?.reveal(), 'pw-value');
    assert.deepEqual(r.warnings, []);
    // Named through an override too; another stray variable still warns.
    const viaEnv = ok({
      AISIX_ETCD__PASSWORD_ENV: 'AISIX_ETCD_PW',
      AISIX_ETCD_PW: 'pw-value',
      AISIX_ETCD__USER: 'root',
      AISIX_ETCD_STRAY: 'x',
    });
    assert.equal(viaEnv.config.etcd.password?.reveal(), 'pw-value');
    assert.equal(viaEnv.warnings.length, 1);
    assert.match(viaEnv.warnings[0] ?? '', /AISIX_ETCD_STRAY/);
  });

  it('a variable naming a section is ignored with a warning', () => {
    const r = ok({ AISIX_PROXY: 'x' });
    assert.equal(r.warnings.length, 1);
    assert.equal(r.config.proxy.addr, '0.0.0.0:3000');
  });

  it('variables without the prefix are not config', () => {
    assert.deepEqual(ok({ PROXY__ADDR: 'x', HOME: '/root' }).warnings, []);
  });
});
