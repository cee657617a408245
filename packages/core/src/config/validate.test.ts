/** Cross-field validation: each rule, its message substring, and the order between rules. */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here is config text under test, not a template.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from './load.js';

const PROXY = 'proxy: {addr: "0.0.0.0:3000"}';
const ADMIN = 'admin: {admin_keys: ["k"]}';

function err(text: string, env: Record<string, string | undefined> = {}): string {
  const r = parseConfig({ text, path: 'config.yaml', env });
  assert.equal(r.ok, false, 'expected a failure');
  return r.ok ? '' : r.error;
}

function ok(text: string): void {
  const r = parseConfig({ text, path: 'config.yaml', env: {} });
  if (!r.ok) assert.fail(`expected ok, got ${r.error}`);
}

const rewrite = (rule: string) => `proxy: {addr: "0.0.0.0:3000", url_rewrites: [${rule}]}\n${ADMIN}`;

describe('url_rewrites', () => {
  it('accepts valid rules with group references', () => {
    ok(rewrite('{match: "^/v2/(.*)$", rewrite: "/v1/$1"}'));
    ok(rewrite('{match: "^/(?P<rest>.*)x$", rewrite: "/a/${rest}/$$"}'));
    ok(rewrite('{match: "^/(?<rest>.*)x$", rewrite: "/a/$rest"}'));
    // Rust syntax: leading inline flags and the \A / \z anchors
    ok(rewrite('{match: "(?i)\\\\A/(?P<r>[]a-z]+)\\\\z", rewrite: "/v1/$r"}'));
  });
  it('bad regex, prefixed by proxy.url_rewrites[i]', () => {
    assert.match(
      err(rewrite('{match: "^/(", rewrite: "/b"}')),
      /^proxy\.url_rewrites\[0\]: invalid match regex/,
    );
  });
  it('prefix is the rule name when set', () => {
    assert.match(err(rewrite('{name: strip, match: "^/(", rewrite: "/b"}')), /^strip: invalid match regex/);
  });
  it('a regex that matches the empty string', () => {
    assert.match(err(rewrite('{match: "x*", rewrite: "/b"}')), /match must not match the empty string/);
  });
  it('an inline flag JS cannot honour is refused, not ignored', () => {
    assert.match(
      err(rewrite('{match: "(?x)^/a b$", rewrite: "/b"}')),
      /invalid match regex: unsupported inline flag \(\?x\)/,
    );
  });
  it('\\A\\z matches the empty string', () => {
    assert.match(err(rewrite('{match: "\\\\A\\\\z", rewrite: "/b"}')), /must not match the empty string/);
  });
  it('forbidden characters in rewrite', () => {
    for (const r of ['"/b?x=1"', '"/b#f"', '"/b c"', '"/b\\tc"', '"/b\\u0001"']) {
      assert.match(err(rewrite(`{match: "^/a$", rewrite: ${r}}`)), /rewrite must not contain/);
    }
  });
  it('unknown group references ($2, $name, ${name}, greedy $1x)', () => {
    const m = /rewrite references unknown capture group/;
    assert.match(err(rewrite('{match: "^/(a)$", rewrite: "/$2"}')), m);
    assert.match(err(rewrite('{match: "^/(a)$", rewrite: "/$name"}')), m);
    assert.match(err(rewrite('{match: "^/(a)$", rewrite: "/${name}"}')), m);
    assert.match(err(rewrite('{match: "^/(a)$", rewrite: "/$1x"}')), /unknown capture group \$1x/);
    ok(rewrite('{match: "^/(a)$", rewrite: "/${1}x"}'));
  });
});

describe('§1.11 rules', () => {
  it('resources_file blank', () => {
    assert.match(
      err(`${PROXY}\n${ADMIN}\nresources_file: "  "`),
      /resources_file must not be empty when set/,
    );
  });
  it('resources_file + etcd.endpoints', () => {
    const e = err(`${PROXY}\n${ADMIN}\nresources_file: r.yaml\netcd: {endpoints: ["http://127.0.0.1:2379"]}`);
    assert.match(e, /config sets both etcd\.endpoints and resources_file.*mutually exclusive/);
  });
  it('etcd.endpoints must be http(s) URLs of one scheme (the boot refuses anything else)', () => {
    const etcd = (eps: string, extra = '') => `${PROXY}\n${ADMIN}\netcd: {endpoints: [${eps}]${extra}}`;
    assert.match(err(etcd('"127.0.0.1:2379"')), /^etcd\.endpoints\[0\]: .*http:\/\/host:port/);
    assert.match(err(etcd('"http://a:2379", "etcd-1"')), /^etcd\.endpoints\[1\]: /);
    assert.match(err(etcd('"grpc://a:2379"')), /^etcd\.endpoints\[0\]: .*http:\/\/ or https:\/\//);
    assert.match(err(etcd('"http://a:2379", "https://b:2379"')), /^etcd\.endpoints: .*one scheme/);
    ok(etcd('"http://a:2379", "http://[::1]:2379"'));
    ok(etcd('"https://a:2379"', ', tls: {ca_cert_file: /ca.pem}'));
  });
  it('etcd.dial_timeout_ms / request_timeout_ms must be > 0 (the etcd client refuses 0)', () => {
    const etcd = (t: string) => `${PROXY}\n${ADMIN}\netcd: {endpoints: ["http://127.0.0.1:2379"], ${t}}`;
    assert.match(err(etcd('dial_timeout_ms: 0')), /^etcd\.dial_timeout_ms must be > 0/);
    assert.match(err(etcd('request_timeout_ms: 0')), /^etcd\.request_timeout_ms must be > 0/);
    ok(etcd('dial_timeout_ms: 1, request_timeout_ms: 1'));
  });
  it('data_dir must not be blank when the embedded store is the source', () => {
    assert.match(err(`${PROXY}\n${ADMIN}\ndata_dir: ""`), /^data_dir must not be empty/);
    assert.match(err(`${PROXY}\n${ADMIN}`, { AISIX_DATA_DIR: '  ' }), /^data_dir must not be empty/);
    // Not used with another source: not checked.
    ok(`${PROXY}\n${ADMIN}\ndata_dir: ""\netcd: {endpoints: ["http://127.0.0.1:2379"]}`);
    ok(`${PROXY}\n${ADMIN}\ndata_dir: ""\nresources_file: r.yaml`);
  });
  it('resources_file + managed', () => {
    const e = err(
      `${PROXY}\nresources_file: r.yaml\nmanaged: {enabled: true, cp_cert_file: a, cp_key_file: b, cp_ca_file: c}`,
    );
    assert.match(e, /resources_file cannot be combined with managed\.enabled = true/);
  });
  it('admin keys required only when the admin listener binds', () => {
    assert.match(
      err(PROXY),
      /admin\.admin_keys must contain at least one key \(required when managed\.enabled is false\)/,
    );
    ok(`${PROXY}\nadmin: {enabled: false}`);
  });
  it('admin.addr validated only when the admin listener binds', () => {
    assert.match(
      err(`${PROXY}\nadmin: {admin_keys: [k], addr: "localhost:3001"}`),
      /admin\.addr invalid socket address: localhost:3001/,
    );
    ok(`${PROXY}\nadmin: {enabled: false, addr: "localhost:3001"}`);
  });
  it('admin.audit retention: defaults, bounds, and type', () => {
    const audit = (text: string) => {
      const r = parseConfig({ text, path: 'config.yaml', env: {} });
      if (!r.ok) assert.fail(r.error);
      return r.config.admin.audit;
    };
    assert.deepEqual(audit(`${PROXY}\n${ADMIN}`), { max_records: 10_000, max_age_days: 90 });
    assert.deepEqual(audit(`${PROXY}\nadmin: {admin_keys: [k], audit: {max_records: 5, max_age_days: 7}}`), {
      max_records: 5,
      max_age_days: 7,
    });
    assert.match(
      err(`${PROXY}\nadmin: {admin_keys: [k], audit: {max_records: 0}}`),
      /admin\.audit\.max_records must be from 1 to 1000000 \(got 0\)/,
    );
    assert.match(
      err(`${PROXY}\nadmin: {admin_keys: [k], audit: {max_age_days: 4000}}`),
      /admin\.audit\.max_age_days must be from 1 to 3650 \(got 4000\)/,
    );
    assert.match(
      err(`${PROXY}\nadmin: {admin_keys: [k], audit: {max_records: -1}}`),
      /admin\.audit\.max_records/,
    );
    assert.match(err(`${PROXY}\nadmin: {admin_keys: [k], audit: {keep: 1}}`), /admin\.audit/);
  });
  it('proxy.addr must be an IP literal with a port; :0 allowed when explicit', () => {
    for (const a of ['localhost:3000', '0.0.0.0', '3000', '1.2.3:80', '0.0.0.0:70000', '::1:80']) {
      assert.match(
        err(`proxy: {addr: "${a}"}\n${ADMIN}`),
        new RegExp(`proxy\\.addr invalid socket address: ${a}`),
      );
    }
    ok(`proxy: {addr: "127.0.0.1:0"}\n${ADMIN}`);
    ok(`proxy: {addr: "[::1]:3000"}\n${ADMIN}`);
  });
  it('trusted proxies must be CIDRs or IPs', () => {
    ok(
      `proxy: {addr: "0.0.0.0:3000", real_ip: {trusted_proxies: ["10.0.0.0/8", "::1", "fd00::/8", "1.2.3.4"]}}\n${ADMIN}`,
    );
    for (const p of ['10.0.0.0/33', 'example.com', '10.0.0/8']) {
      const e = err(`proxy: {addr: "0.0.0.0:3000", real_ip: {trusted_proxies: ["${p}"]}}\n${ADMIN}`);
      assert.match(e, /proxy\.real_ip\.trusted_proxies invalid CIDR\/IP/);
    }
  });
  it('metrics addr is always validated', () => {
    const e = err(
      `${PROXY}\n${ADMIN}\nobservability: {metrics: {prometheus: {enabled: false, addr: "metrics:9090"}}}`,
    );
    assert.match(e, /observability\.metrics\.prometheus\.addr invalid socket address: metrics:9090/);
  });
  it('ratelimit redis block and ttl; cache redis block', () => {
    assert.match(
      err(`${PROXY}\n${ADMIN}\nratelimit: {backend: redis}`),
      /ratelimit\.backend = redis requires a ratelimit\.redis block/,
    );
    assert.match(
      err(
        `${PROXY}\n${ADMIN}\nratelimit: {backend: redis, concurrency_ttl_secs: 0, redis: {url: "redis://r"}}`,
      ),
      /ratelimit\.concurrency_ttl_secs must be > 0 for the redis backend/,
    );
    assert.match(err(`${PROXY}\n${ADMIN}\ncache: {backend: redis}`), /cache\.backend = redis/);
  });
  it('RedisConn mode fields', () => {
    const rl = (r: string) => err(`${PROXY}\n${ADMIN}\nratelimit: {backend: redis, redis: ${r}}`);
    assert.match(rl('{mode: single}'), /ratelimit\.redis\.url is required when mode = single/);
    assert.match(rl('{mode: cluster, nodes: [" "]}'), /ratelimit\.redis\.nodes must list/);
    assert.match(rl('{mode: sentinel}'), /ratelimit\.redis\.sentinels must list/);
    assert.match(rl('{mode: sentinel, sentinels: ["a:1"]}'), /ratelimit\.redis\.master_name is required/);
    assert.match(err(`${PROXY}\n${ADMIN}\ncache: {redis: {mode: cluster}}`), /cache\.redis\.nodes must list/);
  });
  it('half TLS client identity', () => {
    assert.match(
      err(`${PROXY}\n${ADMIN}\nupstream: {tls: {client_cert_file: c.pem}}`),
      /upstream\.tls\.client_cert_file requires upstream\.tls\.client_key_file/,
    );
    assert.match(
      err(`${PROXY}\n${ADMIN}\nupstream: {tls: {client_key_file: k.pem}}`),
      /upstream\.tls\.client_key_file requires upstream\.tls\.client_cert_file/,
    );
    assert.match(
      err(`${PROXY}\n${ADMIN}\ncache: {redis: {url: "rediss://r", tls: {client_cert_file: c}}}`),
      /cache\.redis\.tls\.client_cert_file requires cache\.redis\.tls\.client_key_file/,
    );
  });
  it('runs in the documented order (rewrites before source before admin before proxy)', () => {
    const all = `proxy: {addr: "bad", url_rewrites: [{match: "(", rewrite: "/"}]}\nresources_file: ""`;
    assert.match(err(all), /invalid match regex/);
    assert.match(err(`proxy: {addr: "bad"}\nresources_file: ""`), /resources_file must not be empty/);
    assert.match(err('proxy: {addr: "bad"}'), /admin\.admin_keys/);
    assert.match(
      err(`proxy: {addr: "bad"}\n${ADMIN}\nobservability: {metrics: {prometheus: {addr: x}}}`),
      /^proxy\.addr/,
    );
  });
});

describe('later checks', () => {
  it('tracing.otlp.enabled requires an endpoint', () => {
    assert.match(
      err(`${PROXY}\n${ADMIN}\nobservability: {tracing: {otlp: {enabled: true}}}`),
      /tracing\.otlp\.enabled .*endpoint/,
    );
    ok(`${PROXY}\n${ADMIN}\nobservability: {tracing: {otlp: {enabled: true, endpoint: "http://c:4318"}}}`);
  });
  it('histogram buckets: 1..64 edges, finite, > 0, strictly ascending, no +Inf', () => {
    const b = (v: string) => `${PROXY}\n${ADMIN}\nobservability: {metrics: {buckets: {request_ttft: ${v}}}}`;
    ok(b('[0.1, 1]'));
    assert.match(err(b('[]')), /buckets\.request_ttft must have 1\.\.64 edges/);
    assert.match(err(b(`[${Array.from({ length: 65 }, (_, i) => i + 1).join(',')}]`)), /1\.\.64/);
    assert.match(err(b('[0, 1]')), /must be > 0/);
    assert.match(err(b('[1, 1]')), /strictly ascending/);
    assert.match(err(b('[2, 1]')), /strictly ascending/);
    assert.match(err(b('[1, .inf]')), /\+Inf/);
  });
  it('client_type_rules limits', () => {
    const r = (v: string) => `${PROXY}\n${ADMIN}\nobservability: {metrics: {client_type_rules: ${v}}}`;
    ok(r('[{pattern: "^curl/", client: "curl"}, {pattern: "OpenAI", client: "openai-sdk.v1"}]'));
    assert.match(
      err(r('[{pattern: "", client: "x"}]')),
      /client_type_rules\[0\]\.pattern must be 1\.\.512 bytes/,
    );
    assert.match(err(r(`[{pattern: "${'a'.repeat(513)}", client: "x"}]`)), /1\.\.512 bytes/);
    assert.match(err(r('[{pattern: "(", client: "x"}]')), /client_type_rules\[0\]\.pattern invalid regex/);
    assert.match(err(r('[{pattern: "x", client: "Curl"}]')), /client_type_rules\[0\]\.client must match/);
    assert.match(err(r(`[{pattern: "x", client: "${'a'.repeat(65)}"}]`)), /client must match/);
    const many = `[${Array.from({ length: 65 }, () => '{pattern: "x", client: "x"}').join(',')}]`;
    assert.match(err(r(many)), /at most 64 rules/);
  });
  it('managed bundle must be one complete form', () => {
    const m = (v: string) => `${PROXY}\nmanaged: {enabled: true${v}}`;
    assert.match(err(m('')), /managed: set either all of cp_cert_pem/);
    assert.match(err(m(', cp_cert_pem: a, cp_key_pem: b, cp_ca_file: c')), /managed: set either/);
    ok(m(', cp_cert_file: a, cp_key_file: b, cp_ca_file: c'));
  });
  it('managed heartbeat is clamped to 5..300', () => {
    const r = parseConfig({
      text: `${PROXY}\n${ADMIN}\nmanaged: {heartbeat_interval_secs: 1}`,
      path: 'c.yaml',
      env: {},
    });
    assert.ok(r.ok);
    assert.equal(r.ok && r.config.managed.heartbeat_interval_secs, 5);
  });
});

describe('admin key warnings', () => {
  const warnings = (text: string) => {
    const r = parseConfig({ text, path: 'config.yaml', env: {} });
    if (!r.ok) assert.fail(`expected ok, got ${r.error}`);
    return r.warnings;
  };
  it('the quick-start placeholder is named, with the address it is served on', () => {
    const w = warnings(`${PROXY}\nadmin: {addr: "0.0.0.0:3001", admin_keys: ["change-me-admin-key"]}`);
    assert.equal(w.length, 1);
    assert.match(w[0] as string, /^admin\.admin_keys\[0\] is the placeholder .* on 0\.0\.0\.0:3001/);
  });
  it('a short key is named by index, never echoed', () => {
    const w = warnings(`${PROXY}\nadmin: {admin_keys: ["0123456789abcdef0123", "shortkey1"]}`);
    assert.equal(w.length, 1);
    assert.match(w[0] as string, /^admin\.admin_keys\[1\] is shorter than 16 characters/);
    assert.ok(!w[0]?.includes('shortkey1'), 'the key is not in the warning');
  });
  it('a long random key, or no admin listener, warns about nothing', () => {
    assert.deepEqual(warnings(`${PROXY}\nadmin: {admin_keys: ["8f2c4e6a1b3d5f7091a2b3c4d5e6f708"]}`), []);
    assert.deepEqual(warnings(`${PROXY}\nadmin: {enabled: false, admin_keys: ["change-me-admin-key"]}`), []);
  });
});
