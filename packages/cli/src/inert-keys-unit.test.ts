import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '@aisix/core';
import { inertConfigKeys } from './inert-keys.js';

const parse = (yaml: string) => {
  const r = parseConfig({
    text: `proxy: {addr: "127.0.0.1:3000"}\nadmin: {enabled: false}\n${yaml}`,
    path: 'c.yaml',
    env: {},
  });
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.config;
};

test('a default config has no inert keys', () => {
  assert.deepEqual(inertConfigKeys(parse('')), []);
});

test('outbound TLS settings are applied (upstream agent), so never reported as inert', () => {
  const keys = inertConfigKeys(
    parse(
      'upstream: {tls: {ca_file: /x/ca.pem, client_cert_file: /x/c.pem, client_key_file: /x/k.pem, verify: false}}',
    ),
  );
  assert.deepEqual(keys, []);
});

test('TCP keep-alive probe interval/count and the idle-pool cap are not applied: reported when set', () => {
  // control-plane §1.9: only the keep-alive idle time reaches the socket (node has no knob for
  // the probe interval or count), and undici's pool has no idle-per-host cap.
  assert.deepEqual(
    inertConfigKeys(
      parse(
        'upstream: {tcp_keepalive_secs: 20, tcp_keepalive_interval_secs: 10, tcp_keepalive_retries: 3, pool_max_idle_per_host: 4}',
      ),
    ),
    [
      'upstream.tcp_keepalive_interval_secs',
      'upstream.tcp_keepalive_retries',
      'upstream.pool_max_idle_per_host',
    ],
  );
  // Their defaults (30 / 5 / unbounded) are not a setting anyone made.
  assert.deepEqual(
    inertConfigKeys(parse('upstream: {tcp_keepalive_interval_secs: 30, tcp_keepalive_retries: 5}')),
    [],
  );
});
