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

test('outbound TLS settings are applied: never reported inert', () => {
  const keys = inertConfigKeys(parse('upstream: {tls: {ca_file: /x/ca.pem, verify: false}}'));
  assert.deepEqual(keys, []);
});
