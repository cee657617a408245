/**
 * The generic resource handlers: list, create, get, replace, delete (and rotate for kinds
 * that hold a caller-key hash). Nothing here names a kind except through its `KindDef`;
 * api-key specifics (generated keys, rotation) live in `api-keys.ts`.
 *
 * Secrets are masked on every entry that leaves this module; a PUT that omits a secret or
 * sends the mask back keeps the stored one (core's `mergeSecretsForReplace`), a PATCH keeps
 * what it does not name and removes what it sends as `null` (`resolvePatchSecrets`), and a
 * mask with no stored secret behind it is a 400 (`introducedMask`): the mask is never stored
 * as the credential. References are checked after validation and before the store is touched
 * (`references.ts`).
 *
 * Every update (PUT, PATCH, rotate) reads, merges and writes under a revision compare: the
 * write commits only if the resource is still at the revision that was read. With `If-Match`
 * a moved resource is the client's 412; without it the read-merge-write is retried, so
 * concurrent writers never silently undo each other's merge (a PATCH of one field cannot
 * drop a concurrent PATCH of another, and a PUT never keeps a secret from a stale read).
 *
 * Every write carries its audit record (audit.ts) into the store, committed in the same
 * transaction: a write is never unaudited, and a refused write leaves no record.
 */
import { randomUUID } from 'node:crypto';
import {
  introducedMask,
  isAddressableResourceId,
  type KindDef,
  maskedValueMessage,
  maskSecrets,
  mergeSecretsForReplace,
  nulledSecrets,
  parseRead,
  resolvePatchSecrets,
  validateWrite,
} from '@aisix/core';
import { type ResourceStore, type StoredDoc, StoreError, type UniqueConstraint } from '@aisix/store';
import type { Context } from 'hono';
import type { Logger } from 'pino';
import {
  checkApiKeyHashes,
  checkPreviousKeysUnchanged,
  keepKeyHashOnReplace,
  prepareApiKeyCreate,
  readRotateOptions,
  rotateApiKey,
} from './api-keys.js';
import { type AuditAction, type AuditContext, auditInput } from './audit.js';
import { readJsonBody } from './body.js';
import { AdminHttpError, MSG_NOT_FOUND } from './errors.js';
import { checkJwtIdentity } from './jwt-identity.js';
import { mergePatch } from './merge-patch.js';
import { etag, type IfMatch, ifMatchAccepts, preconditionFailed } from './precondition.js';
import type { ResourceReader } from './reader.js';
import { checkDeleteReferences, checkWriteReferences } from './references.js';

export interface ResourceEntry {
  readonly id: string;
  readonly value: Record<string, unknown>;
  readonly revision: number;
}

export interface ResourceDeps {
  readonly store: ResourceStore;
  readonly reader: ResourceReader;
  /** Where a list's warnings go (one per stored value it leaves out). */
  readonly log?: Pick<Logger, 'warn'>;
  /** Called after each committed write (audit retention runs off it). */
  readonly afterWrite?: () => void;
}

/**
 * What a read returns: the stored document as the gateway types it (control-plane §4.5: defaults
 * filled, a provider key's `secret` alias as `api_key`, MCP/A2A `display_name` as `name`),
 * secrets masked. A JSON document that fails validation is returned as stored, masked (a `GET`
 * shows what is there so it can be fixed); lists skip it with a warning (`listResources`, §2.4).
 */
export function publicEntry(kind: KindDef, doc: StoredDoc): ResourceEntry {
  const typed = parseRead(kind, doc.value);
  return entryOf(kind, doc, typed.ok ? typed.value : doc.value);
}

function entryOf(kind: KindDef, doc: StoredDoc, value: Record<string, unknown>): ResourceEntry {
  return { id: doc.id, value: maskSecrets(kind, value), revision: doc.revision };
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Ids come from the URL, percent-decoded once by the router (`team%2Fg1` is the id `team/g1`).
 * Any id a direct etcd writer may have chosen is addressable, so what lists show can be read,
 * replaced and removed; an id that could change the key's shape or hide in logs (a `..`
 * segment, control characters, empty) is refused here so it never becomes part of a store key.
 * (Creation picks its own UUID: no client-chosen id is ever created.)
 */
export function requireId(c: Context): string {
  const id = c.req.param('id') ?? '';
  if (!isAddressableResourceId(id)) throw new AdminHttpError(400, 'invalid resource id');
  return id;
}

function validated(kind: KindDef, doc: unknown, removed: readonly string[] = []): Record<string, unknown> {
  const res = validateWrite(kind, doc);
  if (!res.ok) {
    // A PATCH that removed a secret may have left a document that needs one: say which.
    const why = removed.length > 0 ? ` (after the patch removed ${removed.join(', ')})` : '';
    throw new AdminHttpError(400, `${res.message}${why}`);
  }
  return res.value;
}

/** The mask is never stored as the credential: a mask with no stored secret behind it is a 400. */
function refuseIntroducedMask(kind: KindDef, doc: unknown, stored: Record<string, unknown>): void {
  if (!isPlainObject(doc)) return;
  const pointer = introducedMask(kind, doc, stored);
  if (pointer !== undefined) throw new AdminHttpError(400, maskedValueMessage(pointer));
}

/**
 * Input aliases in a merge patch, resolved against the stored document before merging: the
 * name alias (`display_name` for MCP servers and A2A agents) is written as the name field and
 * the other spelling removed, so a patch under either spelling renames the resource instead of
 * leaving both in the merged document. (A provider key's `secret` is `resolvePatchSecrets`'.)
 */
function normalisePatchAliases(kind: KindDef, patch: Record<string, unknown>): Record<string, unknown> {
  const field = kind.nameField;
  const alias = kind.nameAlias;
  if (field === null || alias === null) return patch;
  const hasAlias = Object.hasOwn(patch, alias);
  const hasField = Object.hasOwn(patch, field);
  if (hasAlias === hasField) return patch; // neither, or both (validation refuses the pair)
  const out = { ...patch };
  if (hasAlias) {
    out[field] = out[alias];
    out[alias] = null;
  } else out[alias] = null;
  return out;
}

export function uniqueFor(kind: KindDef, value: Record<string, unknown>): UniqueConstraint | undefined {
  if (kind.nameField === null) return undefined;
  const alias = kind.nameAlias ?? undefined;
  // The name is in the name field or, for kinds that accept one, in its alias.
  const v = value[kind.nameField] ?? (alias === undefined ? undefined : value[alias]);
  return typeof v === 'string' ? { field: kind.nameField, value: v, alias } : undefined;
}

/**
 * The stored document. A key whose value is not a JSON document (a direct writer stored it)
 * exists: with `undecodable: 'accept'` (PUT and DELETE, which replace or remove it) it reads as
 * an empty document at its revision, flagged; otherwise (GET, PATCH, rotate, which need the
 * document) it is a 409 naming the problem and carrying the revision as the ETag, so a PUT or
 * DELETE can use If-Match. The stored bytes are never quoted (they may be a credential).
 */
async function mustGet(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  undecodable: 'accept' | 'refuse' = 'refuse',
): Promise<Stored> {
  let doc: StoredDoc | null;
  try {
    doc = await deps.reader.get(kind.kind, id);
  } catch (err) {
    if (!(err instanceof StoreError && err.code === 'undecodable')) throw err;
    const revision = err.currentRevision ?? 0;
    if (undecodable === 'accept') return { id, value: {}, revision, undecodable: true };
    throw new AdminHttpError(409, `${err.message}; ${UNDECODABLE_HINT}`, { etag: etag(revision) });
  }
  if (doc === null) throw new AdminHttpError(404, MSG_NOT_FOUND);
  return doc;
}

const UNDECODABLE_HINT = 'replace it with PUT or remove it with DELETE';

/** What a write reads before it writes: a document, or a key that holds none (`mustGet`). */
type Stored = StoredDoc & { readonly undecodable?: true };

/**
 * A list leaves out what it cannot show (§2.4: "skipped with a warning"): values that are not
 * JSON documents (reported by the store) and documents that fail validation, one warning per
 * key naming `<kind>/<id>` and why, never the value. The gateway reports them in /status/config.
 */
export async function listResources(deps: ResourceDeps, kind: KindDef): Promise<ResourceEntry[]> {
  const skipped = (id: string, reason: string): void =>
    deps.log?.warn({ key: `${kind.kind}/${id}`, reason }, 'admin list skipped a stored value');
  const docs = await deps.reader.list(kind.kind, skipped);
  const out: ResourceEntry[] = [];
  for (const d of docs) {
    const typed = parseRead(kind, d.value);
    if (typed.ok) out.push(entryOf(kind, d, typed.value));
    else skipped(d.id, typed.message);
  }
  return out;
}

export async function getResource(deps: ResourceDeps, kind: KindDef, id: string): Promise<ResourceEntry> {
  return publicEntry(kind, await mustGet(deps, kind, id));
}

/** Who writes and on what condition: the audit actor, and the client's If-Match if any. */
export interface WriteContext extends AuditContext {
  readonly ifMatch?: IfMatch;
}

function committed(deps: ResourceDeps): void {
  deps.afterWrite?.();
}

/** POST: server-generated UUID v4 id; api keys may get a generated key (plaintext once). */
export async function createResource(
  deps: ResourceDeps,
  kind: KindDef,
  req: Request,
  ctx: WriteContext,
): Promise<ResourceEntry & { plaintext?: string }> {
  const body = await readJsonBody(req);
  const { doc, plaintext } = prepareApiKeyCreate(kind, body);
  refuseIntroducedMask(kind, doc, {});
  const value = validated(kind, doc);
  checkPreviousKeysUnchanged(kind, value, {});
  const unique = uniqueFor(kind, value);
  const write = (id: string) =>
    deps.store.create(kind.kind, id, value, unique, {
      audit: auditInput(ctx, 'create', kind, id, undefined, value),
    });
  // A UUID v4 collision is practically impossible; one retry covers it without a loop.
  let id = randomUUID();
  await checkWriteReferences(deps.reader, kind, id, value, false);
  await checkApiKeyHashes(deps.reader, kind, id, value);
  await checkJwtIdentity(deps.reader, kind, id, value);
  let res: { revision: number };
  try {
    res = await write(id);
  } catch (err) {
    if (!(err instanceof StoreError && err.code === 'exists')) throw err;
    id = randomUUID();
    res = await write(id);
  }
  committed(deps);
  const entry = publicEntry(kind, { id, value, revision: res.revision });
  return plaintext === undefined ? entry : { ...entry, plaintext };
}

/** Bounded retries of an unconditional read-merge-write that keeps losing its compare. */
const UPDATE_ATTEMPTS = 20;

/**
 * Read, build the new document from the stored one (null = delete), and write it, with its
 * audit record, only if the resource is still at the revision read. `build` may run more than
 * once (after a lost race), each time on a fresh read, so whatever it generates (a rotated
 * key) and the audited diff belong to the attempt that committed.
 */
async function guardedWrite<
  T extends { value: Record<string, unknown> | null; audit?: Record<string, unknown> },
>(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  ctx: WriteContext,
  action: AuditAction,
  build: (stored: Stored) => T | Promise<T>,
  undecodable: 'accept' | 'refuse' = 'refuse',
): Promise<T & { revision: number }> {
  const { ifMatch } = ctx;
  for (let attempt = 1; ; attempt++) {
    const stored = await mustGet(deps, kind, id, undecodable);
    if (ifMatch !== undefined && !ifMatchAccepts(ifMatch, stored.revision)) {
      throw preconditionFailed(kind.kind, id, stored.revision);
    }
    const next = await build(stored);
    const opts = {
      ifRevision: stored.revision,
      // A value that was no document has no fields to diff from.
      audit: auditInput(
        ctx,
        action,
        kind,
        id,
        stored.undecodable ? undefined : stored.value,
        next.value ?? undefined,
        next.audit,
      ),
    };
    try {
      const res =
        next.value === null
          ? await deps.store.delete(kind.kind, id, opts)
          : await deps.store.replace(kind.kind, id, next.value, uniqueFor(kind, next.value), opts);
      committed(deps);
      return { ...next, revision: res.revision };
    } catch (err) {
      if (!(err instanceof StoreError && err.code === 'revision_mismatch')) throw err;
      // The client named the revision it based its change on: that one is gone.
      if (ifMatch !== undefined && ifMatch !== '*') {
        throw preconditionFailed(kind.kind, id, err.currentRevision ?? stored.revision);
      }
      if (attempt >= UPDATE_ATTEMPTS) {
        throw new AdminHttpError(409, `${kind.kind}/${id} kept changing under concurrent writes; try again`);
      }
      // Jittered, so contenders spread out instead of colliding again.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 5 * attempt)));
    }
  }
}

/**
 * PUT: replace-only (404 when absent); omitted or masked secrets keep the stored ones. A key
 * holding a value that is not a JSON document is replaced like any existing key.
 */
export async function replaceResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  req: Request,
  ctx: WriteContext,
): Promise<ResourceEntry> {
  const body = await readJsonBody(req);
  const res = await guardedWrite(
    deps,
    kind,
    id,
    ctx,
    'replace',
    async (stored) => {
      let doc: unknown = body;
      if (isPlainObject(body))
        doc = keepKeyHashOnReplace(kind, mergeSecretsForReplace(kind, body, stored.value), stored.value);
      refuseIntroducedMask(kind, doc, stored.value);
      const value = validated(kind, doc);
      checkPreviousKeysUnchanged(kind, value, stored.value);
      await checkWriteReferences(deps.reader, kind, id, value, true);
      await checkApiKeyHashes(deps.reader, kind, id, value);
      await checkJwtIdentity(deps.reader, kind, id, value);
      return { value };
    },
    'accept',
  );
  return publicEntry(kind, { id, value: res.value, revision: res.revision });
}

/**
 * PATCH: a JSON merge patch (RFC 7396) applied to the stored document, then validated as a
 * whole like a PUT. `null` removes a field, a secret too; a secret sent back masked keeps the
 * stored one; an input alias (`secret`, `display_name`) replaces its canonical field.
 */
export async function patchResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  req: Request,
  ctx: WriteContext,
): Promise<ResourceEntry> {
  const patch = await readJsonBody(req);
  if (!isPlainObject(patch)) {
    throw new AdminHttpError(400, 'a merge patch must be a JSON object (RFC 7396); use PUT to replace');
  }
  const res = await guardedWrite(deps, kind, id, ctx, 'patch', async (stored) => {
    // Aliases and masked secrets are resolved against the stored document first; a `null`
    // then removes the field, secrets included (RFC 7396), and the whole is validated.
    const resolved = resolvePatchSecrets(kind, normalisePatchAliases(kind, patch), stored.value);
    const merged = mergePatch(stored.value, resolved);
    refuseIntroducedMask(kind, merged, stored.value);
    const value = validated(kind, merged, nulledSecrets(kind, patch));
    checkPreviousKeysUnchanged(kind, value, stored.value);
    await checkWriteReferences(deps.reader, kind, id, value, true);
    await checkApiKeyHashes(deps.reader, kind, id, value);
    await checkJwtIdentity(deps.reader, kind, id, value);
    return { value };
  });
  return publicEntry(kind, { id, value: res.value, revision: res.revision });
}

/**
 * DELETE (404 when absent, whatever the key holds: a value that is not a JSON document is
 * deleted too); the audit record keeps the deleted fields (secrets as flags).
 */
export async function deleteResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  ctx: WriteContext,
): Promise<{ deleted: true; id: string }> {
  await guardedWrite(
    deps,
    kind,
    id,
    ctx,
    'delete',
    async () => {
      await checkDeleteReferences(deps.reader, kind, id);
      return { value: null };
    },
    'accept',
  );
  return { deleted: true, id };
}

export async function rotateResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  req: Request,
  ctx: WriteContext,
): Promise<{ entry: ResourceEntry; plaintext: string }> {
  const opts = await readRotateOptions(req);
  const res = await guardedWrite(deps, kind, id, ctx, 'rotate', (stored) => ({
    ...rotateApiKey(stored.value, opts),
    ...(opts.graceSecs > 0 ? { audit: { grace_secs: opts.graceSecs } } : {}),
  }));
  return {
    entry: publicEntry(kind, { id, value: res.value, revision: res.revision }),
    plaintext: res.plaintext,
  };
}
