/**
 * Optimistic concurrency on the Admin API: a resource's ETag is its store revision
 * (`"<revision>"`, the `revision` of its ResourceEntry), and `If-Match` on PUT, PATCH, DELETE
 * and rotate makes the write conditional on it (412 when the resource moved on).
 *
 * Only the header carries the precondition, never a body field: resource bodies are validated
 * by closed schemas (and two kinds have open roots, where a `revision` field would be stored).
 */
import { AdminHttpError } from './errors.js';

/** `*` (any existing revision) or the revisions the client accepts. */
export type IfMatch = '*' | readonly number[];

const TAG = /^(?:"(\d{1,15})"|(\d{1,15}))$/;

/**
 * Parses `If-Match`: `*`, or a comma-separated list of strong entity tags (`"42"`; a bare `42`
 * is accepted too, since revisions are plain integers). Weak tags (`W/"42"`) never match under
 * If-Match's strong comparison (RFC 9110 §13.1.1), so they are refused as an error instead of
 * silently failing every write. Absent header: undefined.
 */
export function parseIfMatch(headers: Headers): IfMatch | undefined {
  const raw = headers.get('if-match');
  if (raw === null) return undefined;
  if (raw.trim() === '*') return '*';
  const revs: number[] = [];
  for (const part of raw.split(',')) {
    const m = TAG.exec(part.trim());
    const rev = Number(m?.[1] ?? m?.[2]);
    if (m === null || !Number.isSafeInteger(rev) || rev < 1) {
      throw new AdminHttpError(
        400,
        'invalid If-Match header: expected the resource revision as an entity tag, e.g. If-Match: "42"',
      );
    }
    revs.push(rev);
  }
  return revs;
}

export function ifMatchAccepts(ifMatch: IfMatch, revision: number): boolean {
  return ifMatch === '*' || ifMatch.includes(revision);
}

export const etag = (revision: number): string => `"${revision}"`;

/** 412 with the current revision, in the message and as the ETag, so the client can re-read. */
export function preconditionFailed(kind: string, id: string, current: number): AdminHttpError {
  return new AdminHttpError(
    412,
    `precondition failed: ${kind}/${id} is at revision ${current}; re-read it and retry with If-Match: "${current}"`,
    { etag: etag(current) },
  );
}
