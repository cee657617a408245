/**
 * PEM certificate bundles (`provider_keys.tls.ca_cert`): one or more `CERTIFICATE` blocks, each
 * a certificate X.509 parsing accepts. Parsing only (node:crypto, no I/O), so a bad CA is a 400
 * on write rather than a trust store that silently holds nothing.
 */
import { X509Certificate } from 'node:crypto';

const BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The certificate blocks of `pem`, or undefined when there is none or one does not parse. */
export function pemCertificates(pem: string): string[] | undefined {
  const blocks = pem.match(BLOCK);
  if (blocks === null) return undefined;
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch {
      return undefined;
    }
  }
  return blocks;
}
