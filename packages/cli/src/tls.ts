/**
 * `proxy.tls` / `admin.tls`: the listener's certificate and key, read once at boot (before any
 * listener binds) and checked by building a TLS context, so a missing, unreadable or malformed
 * file fails the boot with `<key>: failed to load <field> (<path>): <reason>` — naming the
 * key and the file, never their contents.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { type OutboundTlsConfig, pemCertificates, type ServerTlsConfig } from '@aisix/core';
import type { UpstreamTls } from '@aisix/gateway-node';
import { BootError } from './resources.js';

export interface LoadedTls {
  readonly cert: Buffer;
  readonly key: Buffer;
}

function read(key: string, field: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new BootError(`Error: ${key}: failed to load ${field} (${path}): ${code}`);
  }
}

/** `undefined` when the section is absent; throws a `BootError` on an unusable pair. */
export function loadServerTls(
  key: 'proxy.tls' | 'admin.tls',
  tls: ServerTlsConfig | undefined,
): LoadedTls | undefined {
  if (tls === undefined) return undefined;
  const cert = read(key, 'cert_file', tls.cert_file);
  const pem = read(key, 'key_file', tls.key_file);
  try {
    createSecureContext({ cert, key: pem });
  } catch (err) {
    // OpenSSL's reason (e.g. "key values mismatch", "no start line"): no file contents.
    const why = err instanceof Error ? err.message : String(err);
    throw new BootError(
      `Error: ${key}: failed to load cert_file (${tls.cert_file}) / key_file (${tls.key_file}): ${why}`,
    );
  }
  return { cert, key: pem };
}

/**
 * `upstream.tls`: the CA bundle and client certificate of every upstream call, read once at boot
 * like the listener files (an unreadable file, a CA without a certificate or a mismatched pair
 * exits 1 naming the key). `undefined` when everything is at its default (system roots, verify).
 */
export function loadUpstreamTls(tls: OutboundTlsConfig | undefined): UpstreamTls | undefined {
  if (tls === undefined) return undefined;
  const { ca_file, client_cert_file, client_key_file, verify } = tls;
  if (ca_file === undefined && client_cert_file === undefined && verify) return undefined;
  let ca: string[] | undefined;
  if (ca_file !== undefined) {
    ca = pemCertificates(read('upstream.tls', 'ca_file', ca_file).toString('utf8'));
    if (ca === undefined)
      throw new BootError(`Error: upstream.tls: failed to load ca_file (${ca_file}): no PEM certificate`);
  }
  let cert: string | undefined;
  let key: string | undefined;
  if (client_cert_file !== undefined && client_key_file !== undefined) {
    cert = read('upstream.tls', 'client_cert_file', client_cert_file).toString('utf8');
    key = read('upstream.tls', 'client_key_file', client_key_file).toString('utf8');
    try {
      createSecureContext({ cert, key });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new BootError(
        `Error: upstream.tls: failed to load client_cert_file (${client_cert_file}) / client_key_file (${client_key_file}): ${why}`,
      );
    }
  }
  return { ca, cert, key, verify };
}
