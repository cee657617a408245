/**
 * The audit trail of admin writes: the record committed with every write (who, what, the diff,
 * when; the revision is the write's own, read back from the store), the `GET /admin/v1/audit`
 * query, and retention.
 *
 * Secrets never enter a record: fields listed as secret for the kind (plus an api key's
 * `key_hash` and `previous_keys`, which identify credentials) appear only as
 * `{"path", "secret": true, "changed": true|false}`. Other fields appear as JSON pointers with
 * `from` / `to` values, objects walked field by field, arrays compared whole.
 */
import { KINDS, type KindDef, type KindName } from '@aisix/core';
import type { AuditInput, AuditLog, AuditRecord, AuditRetention } from '@aisix/store';
import type { Logger } from 'pino';
import { AdminHttpError } from './errors.js';

export type AuditAction = 'create' | 'replace' | 'patch' | 'delete' | 'rotate';
const ACTIONS: ReadonlySet<string> = new Set(['create', 'replace', 'patch', 'delete', 'rotate']);

export type AuditChange =
  | { readonly path: string; readonly from?: unknown; readonly to?: unknown; readonly truncated?: true }
  | { readonly path: string; readonly secret: true; readonly changed: boolean };

type Doc = Record<string, unknown>;

const isPlainObject = (x: unknown): x is Doc => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Values larger than this (as JSON) are left out of a change, marked `truncated`. */
const MAX_VALUE_JSON = 2048;

const pointerStep = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

function secretPatterns(kind: KindDef): string[][] {
  const paths = kind.secretPaths.map((p) => p.split('.'));
  if (kind.kind === 'api_keys') paths.push(['key_hash'], ['previous_keys']);
  return paths;
}

/** The pattern a path falls under (a `*` step matches any map key), if any. */
function secretPrefix(path: readonly string[], patterns: readonly string[][]): string[] | undefined {
  for (const pat of patterns) {
    if (pat.length > path.length) continue;
    if (pat.every((step, i) => step === '*' || step === path[i])) return path.slice(0, pat.length);
  }
  return undefined;
}

function leaves(doc: unknown, path: string[], out: Map<string, { path: string[]; value: unknown }>): void {
  if (isPlainObject(doc) && (path.length === 0 || Object.keys(doc).length > 0)) {
    for (const [k, v] of Object.entries(doc)) leaves(v, [...path, k], out);
    return;
  }
  out.set(JSON.stringify(path), { path, value: doc });
}

function sized(key: 'from' | 'to', v: unknown): Doc {
  if (v === undefined) return {};
  return JSON.stringify(v).length > MAX_VALUE_JSON ? { truncated: true } : { [key]: v };
}

/** Field-level diff of two documents (absent = the resource did not / no longer exists). */
export function auditDiff(kind: KindDef, before: Doc | undefined, after: Doc | undefined): AuditChange[] {
  const patterns = secretPatterns(kind);
  const a = new Map<string, { path: string[]; value: unknown }>();
  const b = new Map<string, { path: string[]; value: unknown }>();
  if (before !== undefined) leaves(before, [], a);
  if (after !== undefined) leaves(after, [], b);
  const plain: AuditChange[] = [];
  // Secrets are reported per secret field (a whole map of secret headers is one entry per key).
  const secrets = new Map<string, { changed: boolean }>();
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key);
    const y = b.get(key);
    const path = (x ?? y)?.path ?? [];
    const same =
      JSON.stringify(x?.value) === JSON.stringify(y?.value) && (x === undefined) === (y === undefined);
    const secret = secretPrefix(path, patterns);
    if (secret !== undefined) {
      const p = `/${secret.map(pointerStep).join('/')}`;
      const prev = secrets.get(p);
      secrets.set(p, { changed: (prev?.changed ?? false) || !same });
      continue;
    }
    if (same) continue;
    const pointer = `/${path.map(pointerStep).join('/')}`;
    plain.push({ path: pointer, ...sized('from', x?.value), ...sized('to', y?.value) } as AuditChange);
  }
  const out = [
    ...plain,
    ...[...secrets].map(([path, s]) => ({ path, secret: true as const, changed: s.changed })),
  ];
  return out.sort((p, q) => (p.path < q.path ? -1 : p.path > q.path ? 1 : 0));
}

export interface AuditContext {
  /** Admin key id of the caller (`admin:<12 hex>`). */
  readonly actor: string;
}

export function auditInput(
  ctx: AuditContext,
  action: AuditAction,
  kind: KindDef,
  id: string,
  before: Doc | undefined,
  after: Doc | undefined,
  extra: Doc = {},
): AuditInput {
  const at = Date.now();
  return {
    at,
    doc: {
      at: new Date(at).toISOString(),
      actor: ctx.actor,
      action,
      kind: kind.kind,
      id,
      changes: auditDiff(kind, before, after),
      ...extra,
    },
  };
}

// --- query ---------------------------------------------------------------------------------

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 1000;

const PARAMS = new Set(['kind', 'id', 'actor', 'action', 'since', 'until', 'limit', 'cursor']);

function kindNamed(name: string): KindName | undefined {
  return KINDS.find((k) => k.kind === name || k.adminPath === name || k.adminAliases.includes(name))?.kind;
}

function time(name: string, v: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(ms))
    throw new AdminHttpError(400, `invalid ${name}: expected an RFC 3339 time such as 2026-01-31T12:00:00Z`);
  return ms;
}

function positiveInt(name: string, v: string, max: number): number {
  const n = /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new AdminHttpError(400, `invalid ${name}: expected an integer from 1 to ${max}`);
  }
  return n;
}

export interface AuditPageBody {
  readonly records: Array<Doc & { revision: number }>;
  /** Pass as `cursor` for the next (older) page; null at the end. */
  readonly next_cursor: string | null;
}

/** `GET /admin/v1/audit?kind&id&actor&action&since&until&limit&cursor`, newest first. */
export async function queryAudit(log: AuditLog | undefined, url: URL): Promise<AuditPageBody> {
  const q = url.searchParams;
  for (const name of q.keys()) {
    if (!PARAMS.has(name)) {
      throw new AdminHttpError(400, `unknown query parameter "${name}"; expected ${[...PARAMS].join(', ')}`);
    }
  }
  const one = (name: string): string | undefined => {
    const all = q.getAll(name);
    if (all.length > 1) throw new AdminHttpError(400, `query parameter "${name}" given more than once`);
    return all[0];
  };
  const kindParam = one('kind');
  const kind = kindParam === undefined ? undefined : kindNamed(kindParam);
  if (kindParam !== undefined && kind === undefined) {
    throw new AdminHttpError(400, `invalid kind "${kindParam}": expected a resource kind such as api_keys`);
  }
  const action = one('action');
  if (action !== undefined && !ACTIONS.has(action)) {
    throw new AdminHttpError(400, `invalid action: expected one of ${[...ACTIONS].join(', ')}`);
  }
  const id = one('id');
  const actor = one('actor');
  const sinceRaw = one('since');
  const untilRaw = one('until');
  const since = sinceRaw === undefined ? undefined : time('since', sinceRaw);
  const until = untilRaw === undefined ? undefined : time('until', untilRaw);
  if (since !== undefined && until !== undefined && since > until) {
    throw new AdminHttpError(400, 'invalid range: since is after until');
  }
  const limitRaw = one('limit');
  const limit =
    limitRaw === undefined ? AUDIT_DEFAULT_LIMIT : positiveInt('limit', limitRaw, AUDIT_MAX_LIMIT);
  const cursorRaw = one('cursor');
  const cursor =
    cursorRaw === undefined ? undefined : positiveInt('cursor', cursorRaw, Number.MAX_SAFE_INTEGER);
  if (log === undefined) return { records: [], next_cursor: null };
  const filtered = kind !== undefined || id !== undefined || actor !== undefined || action !== undefined;
  const page = await log.query({
    limit,
    ...(since !== undefined ? { sinceMs: since } : {}),
    ...(until !== undefined ? { untilMs: until } : {}),
    ...(cursor !== undefined ? { beforeRevision: cursor } : {}),
    ...(filtered
      ? {
          match: (doc: Doc) =>
            (kind === undefined || doc.kind === kind) &&
            (id === undefined || doc.id === id) &&
            (actor === undefined || doc.actor === actor) &&
            (action === undefined || doc.action === action),
        }
      : {}),
  });
  return {
    records: page.records.map((r: AuditRecord) => ({ revision: r.revision, ...r.doc })),
    next_cursor: page.next === null ? null : String(page.next),
  };
}

// --- retention -----------------------------------------------------------------------------

export interface AuditRetentionConfig {
  readonly maxRecords: number;
  readonly maxAgeDays: number;
}

export const DEFAULT_AUDIT_RETENTION: AuditRetentionConfig = { maxRecords: 10_000, maxAgeDays: 90 };

/**
 * Applies retention after writes, off the response path: one prune at a time, and a write that
 * lands while one runs gets one more pass after it, so the log never stays above the cap.
 * Every admin process prunes; the deletes are idempotent.
 */
export function auditPruner(
  log: AuditLog | undefined,
  cfg: AuditRetentionConfig,
  logger: Logger,
): { kick(): void; idle(): Promise<void> } {
  const retention: AuditRetention = { maxRecords: cfg.maxRecords, maxAgeMs: cfg.maxAgeDays * 86_400_000 };
  let running: Promise<void> | null = null;
  let again = false;
  const run = (): void => {
    if (log === undefined) return;
    if (running) {
      again = true;
      return;
    }
    running = log
      .prune(retention, Date.now())
      .then(
        (n) => {
          if (n > 0) logger.debug({ deleted: n }, 'audit retention applied');
        },
        (err: unknown) => {
          logger.warn(
            { err_msg: err instanceof Error ? err.message : String(err) },
            'audit retention failed',
          );
        },
      )
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };
  return {
    kick: run,
    async idle() {
      while (running) await running;
    },
  };
}
