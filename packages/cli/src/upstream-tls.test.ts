/**
 * `upstream.tls` files read at boot: the CA bundle and the client pair load; a missing file, a
 * CA without a certificate and a mismatched pair are boot errors naming the key and the file.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { selfSignedCert } from '@aisix/testkit';
import { BootError } from './resources.js';
import { loadUpstreamTls } from './tls.js';

const a = selfSignedCert();
const b = selfSignedCert();
const none = { ca_file: undefined, client_cert_file: undefined, client_key_file: undefined, verify: true };

test('defaults load nothing; verify false alone is kept', () => {
  assert.equal(loadUpstreamTls(undefined), undefined);
  assert.equal(loadUpstreamTls(none), undefined);
  assert.deepEqual(loadUpstreamTls({ ...none, verify: false }), {
    ca: undefined,
    cert: undefined,
    key: undefined,
    verify: false,
  });
});

test('a CA bundle and a client pair load as PEM', () => {
  const t = loadUpstreamTls({
    ...none,
    ca_file: a.certFile,
    client_cert_file: b.certFile,
    client_key_file: b.keyFile,
  });
  assert.deepEqual(t?.ca, [a.cert.trim()]);
  assert.equal(t?.cert, b.cert);
  assert.equal(t?.key, b.key);
});

test('unusable files fail the boot naming the key and the file', () => {
  const junk = join(a.dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate');
  const cases: [Parameters<typeof loadUpstreamTls>[0], RegExp][] = [
    [
      { ...none, ca_file: '/nonexistent/ca.pem' },
      /upstream\.tls: failed to load ca_file \(\/nonexistent\/ca\.pem\): ENOENT/,
    ],
    [{ ...none, ca_file: junk }, /upstream\.tls: failed to load ca_file .*no PEM certificate/],
    [
      { ...none, client_cert_file: a.certFile, client_key_file: b.keyFile },
      /upstream\.tls: failed to load client_cert_file .* \/ client_key_file/,
    ],
  ];
  for (const [tls, message] of cases) {
    assert.throws(
      () => loadUpstreamTls(tls),
      (e: unknown) => e instanceof BootError && message.test(e.message),
    );
  }
});
