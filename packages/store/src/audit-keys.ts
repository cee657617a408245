/**
 * Where audit records live: `<root>.audit/<13-digit epoch ms>-<16 hex>`, or
 * `<root>.audit/<env_id>/…` for an environment. A sibling of the root prefix, not a kind under it,
 * so no gateway (whatever its env_id) loads or watches them: their range is `<root>/` or
 * `<root>/<env>/`, and `.` sorts before `/`. (An environment's records used to sit at
 * `<root>/<env>.audit/`, inside the range of a gateway without env_id, which reported them as an
 * unknown kind.) The resource key layout keeps one key per resource. Keys sort by time; the
 * random part keeps same-millisecond records apart.
 */
import { randomBytes } from 'node:crypto';

/** The audit key prefix (with its trailing `/`) for a store at `root` (no trailing `/`) and env. */
export function auditPrefixFor(root: string, envId = ''): string {
  return envId === '' ? `${root}.audit/` : `${root}.audit/${envId}/`;
}

const MS_DIGITS = 13;

/** `audit` is an `auditPrefixFor` value. */
export function auditTimeKey(audit: string, atMs: number): string {
  return `${audit}${String(Math.max(0, Math.floor(atMs))).padStart(MS_DIGITS, '0')}`;
}

export function auditKey(audit: string, atMs: number): string {
  return `${auditTimeKey(audit, atMs)}-${randomBytes(8).toString('hex')}`;
}

/** Records fetched per etcd range while filtering a query. */
export const AUDIT_BATCH = 500;
