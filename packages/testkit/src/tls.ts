/**
 * A throwaway self-signed certificate for HTTPS listener tests (node:crypto cannot issue X.509
 * certificates, so this runs the `openssl` binary). The certificate is its own CA and names
 * `127.0.0.1` and `localhost`, so a client that trusts `cert` verifies the listener normally.
 * No `openssl` = a thrown error saying so: tests fail rather than skip.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCert {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM of the certificate (also the CA to trust). */
  readonly cert: string;
  readonly key: string;
}

export function selfSignedCert(dir = mkdtempSync(join(tmpdir(), 'aisix-test-cert-'))): TestCert {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=aisix-test',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { encoding: 'utf8' },
  );
  if (r.error || r.status !== 0) {
    throw new Error(
      `selfSignedCert: the openssl binary is needed to make a test certificate (Debian: apt-get install -y openssl): ${r.error?.message ?? r.stderr}`,
    );
  }
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
