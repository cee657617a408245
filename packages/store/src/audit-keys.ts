/**
 * Where audit records live: `<prefix>.audit/<13-digit epoch ms>-<16 hex>`. The prefix's sibling,
 * not a kind under `<prefix>/`, so gateways never load or watch them (their range is
 * `<prefix>/`, and `.` sorts before `/`) and the resource key layout keeps one key per
 * resource. Keys sort by time; the random part keeps same-millisecond records apart.
 */
import { randomBytes } from 'node:crypto';

export function auditPrefix(prefix: string): string {
  return `${prefix}.audit/`;
}

const MS_DIGITS = 13;

export function auditTimeKey(prefix: string, atMs: number): string {
  return `${auditPrefix(prefix)}${String(Math.max(0, Math.floor(atMs))).padStart(MS_DIGITS, '0')}`;
}

export function auditKey(prefix: string, atMs: number): string {
  return `${auditTimeKey(prefix, atMs)}-${randomBytes(8).toString('hex')}`;
}

/** Records fetched per etcd range while filtering a query. */
export const AUDIT_BATCH = 500;
