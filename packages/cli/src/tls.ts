/**
 * `proxy.tls` / `admin.tls`: the listener's certificate and key, read once at boot (before any
 * listener binds) and checked by building a TLS context, so a missing, unreadable or malformed
 * file fails the boot with `<key>: failed to load <field> (<path>): <reason>` — naming the
 * key and the file, never their contents.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { ServerTlsConfig } from '@aisix/core';
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
