/**
 * OutboundTls (control-plane §1.9) for `rediss://` connections, as node-redis socket options:
 * `ca_file` adds trust roots to the system ones (it does not replace them), a client
 * certificate/key pair is presented when both are set, `verify: false` accepts any server
 * certificate. Files are read once, at connect; a missing file is a connect (= boot) error.
 * Used only when the address says `rediss://`; plain `redis://` ignores `tls` entirely.
 */
import { readFile } from 'node:fs/promises';
import tlsModule, { rootCertificates } from 'node:tls';
import type { OutboundTlsConfig } from '@aisix/core';

/**
 * node-redis (5.12.1) listens for a socket's first 'error' only (`once`). A TLS socket can
 * emit two: a TLS 1.3 server refusing the client certificate sends an alert (error 1) and
 * resets (error 2, ECONNRESET), and the second one is an uncaught exception that would take
 * the gateway down. node-redis offers no socket factory, so `tls.connect` is wrapped, for
 * sockets whose options carry this marker only: they get a permanent no-op 'error' listener
 * (node-redis still sees and handles the first error).
 */
const GUARD = Symbol.for('aisix.redis.tls-error-guard');
let guarded = false;

function installGuard(): void {
  if (guarded) return;
  guarded = true;
  const connect = tlsModule.connect;
  tlsModule.connect = function (this: unknown, ...args: unknown[]) {
    const socket = (connect as (...a: unknown[]) => ReturnType<typeof tlsModule.connect>).apply(this, args);
    const opts = args[0];
    if (typeof opts === 'object' && opts !== null && GUARD in opts) socket.on('error', () => {});
    return socket;
  } as typeof tlsModule.connect;
}

export interface TlsSocketOptions {
  readonly [GUARD]: true;
  readonly tls: true;
  readonly ca?: string[];
  readonly cert?: string;
  readonly key?: string;
  readonly rejectUnauthorized: boolean;
}

async function read(what: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`redis tls: cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

export async function tlsSocketOptions(t: OutboundTlsConfig | undefined): Promise<TlsSocketOptions> {
  const ca = t?.ca_file !== undefined ? [...rootCertificates, await read('ca_file', t.ca_file)] : undefined;
  const cert =
    t?.client_cert_file !== undefined ? await read('client_cert_file', t.client_cert_file) : undefined;
  const key = t?.client_key_file !== undefined ? await read('client_key_file', t.client_key_file) : undefined;
  installGuard();
  return {
    [GUARD]: true,
    tls: true,
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    rejectUnauthorized: t?.verify ?? true,
  };
}
