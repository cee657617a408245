/**
 * Admin authentication: `Authorization: Bearer <key>`, or `x-api-key: <key>` only when no
 * Authorization header is present (another scheme is a failure, never a fallback).
 *
 * Keys are compared in constant time: both sides are reduced to SHA-256 digests (equal
 * length, as timingSafeEqual requires) and every configured key is compared, without an
 * early exit, so neither the match position nor the key length shows in the timing.
 *
 * A successful check yields the key's id, `admin:` + the first 12 hex characters of its
 * SHA-256: what the audit trail records as the actor (never the key itself). Operators find a
 * key's id with `printf %s "$KEY" | sha256sum | cut -c1-12`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Extracts the presented key, or null when the headers are missing or malformed. */
export function presentedAdminKey(headers: Headers): string | null {
  const authz = headers.get('authorization');
  if (authz !== null) {
    if (!authz.startsWith('Bearer ')) return null;
    const key = authz.slice('Bearer '.length).trim();
    return key === '' ? null : key;
  }
  const xKey = headers.get('x-api-key');
  if (xKey === null) return null;
  const key = xKey.trim();
  return key === '' ? null : key;
}

/** The admin key id of the presented key, or null when it is not an admin key. */
export type AdminKeyCheck = (headers: Headers) => string | null;

export function adminKeyId(key: string): string {
  return `admin:${digest(key.trim()).toString('hex').slice(0, 12)}`;
}

export function adminKeyChecker(adminKeys: readonly string[]): AdminKeyCheck {
  if (adminKeys.length === 0 || adminKeys.some((k) => k.trim() === '')) {
    throw new Error(
      'createAdminApp: adminKeys must hold at least one non-empty key (set admin.admin_keys, or disable the admin listener)',
    );
  }
  const digests = adminKeys.map((k) => digest(k.trim()));
  return (headers) => {
    const key = presentedAdminKey(headers);
    if (key === null) return null;
    const d = digest(key);
    let ok = false;
    for (const k of digests) ok = timingSafeEqual(d, k) || ok;
    return ok ? `admin:${d.toString('hex').slice(0, 12)}` : null;
  };
}
