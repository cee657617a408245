/**
 * Bookkeeping of a whole-source rejection (file mode: a SIGHUP reload that failed): the
 * `SourceRejection` report a source hands in, and the rejection held in force: its
 * `rejected[]` rows (first-seen times kept across repeated reports) and the rejected content's
 * hash, until a later revision applies.
 * Leaves out: the reload counters and `last_failure` (`./config-sync.ts`), rendering
 * (`./config-status.ts`).
 */
import { type ReloadFailureReason, rowOrder, type StatusRejectedRow, safeText } from './config-status.js';

/** A whole-source rejection (file mode: a SIGHUP reload that failed), see `reportSourceRejection`. */
export interface SourceRejection {
  /** `fetch` = the content could not be read; `parse` / `validate` = it was read and refused. */
  readonly reason: ReloadFailureReason;
  /** The whole report (`last_failure.last_error`, shortened). */
  readonly message: string;
  /** One `rejected[]` row per error; `resource_kind`/`resource_id` empty for source-wide errors. */
  readonly errors: readonly {
    readonly resource_kind: string;
    readonly resource_id: string;
    readonly message: string;
  }[];
  /** The source revision still in force; the rejection holds until a later revision applies. */
  readonly revision: number;
  /** Hash of the rejected content (shown as `source_hash`); absent when nothing could be read. */
  readonly sourceHash?: string;
}

/** The source rejection in force. */
export interface HeldRejection {
  readonly revision: number;
  readonly rows: readonly StatusRejectedRow[];
  readonly hash: string | undefined;
}

/**
 * The rejection in force after `r` is reported at `ts` (RFC 3339), given the one held before
 * (`prev`): a row that was already there keeps its `first_seen_at`; the hash of the rejected
 * content carries over when the new report could not read any.
 */
export function nextRejection(prev: HeldRejection | null, r: SourceRejection, ts: string): HeldRejection {
  const rowKey = (kind: string, id: string, msg: string): string => `${kind}\u0000${id}\u0000${msg}`;
  const firstSeen = new Map(
    (prev?.rows ?? []).map((row) => [
      rowKey(row.resource_kind, row.resource_id, row.last_error),
      row.first_seen_at,
    ]),
  );
  const rows = r.errors.map((e): StatusRejectedRow => {
    const msg = safeText(e.message, 1000);
    return Object.freeze({
      resource_kind: e.resource_kind,
      resource_id: e.resource_id,
      last_error_kind: r.reason,
      last_error: msg,
      first_seen_at: firstSeen.get(rowKey(e.resource_kind, e.resource_id, msg)) ?? ts,
      last_seen_at: ts,
    });
  });
  rows.sort(rowOrder);
  return {
    revision: r.revision,
    rows: Object.freeze(rows),
    hash: r.sourceHash ?? prev?.hash,
  };
}

/** A newer revision applies: the source rejection no longer describes what is in force. */
export function afterApply(held: HeldRejection | null, revision: number): HeldRejection | null {
  return held !== null && revision > held.revision ? null : held;
}
