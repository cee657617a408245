/**
 * The generic resource handlers: list, create, get, replace, delete (and rotate for kinds
 * that hold a caller-key hash). Nothing here names a kind except through its `KindDef`;
 * api-key specifics (generated keys, rotation) live in `api-keys.ts`.
 *
 * Secrets are masked on every entry that leaves this module; a PUT that omits a secret or
 * sends the mask back keeps the stored one (core's `mergeSecretsForReplace`).
 *
 * Every update (PUT, PATCH, rotate) reads, merges and writes under a revision compare: the
 * write commits only if the resource is still at the revision that was read. With `If-Match`
 * a moved resource is the client's 412; without it the read-merge-write is retried, so
 * concurrent writers never silently undo each other's merge (a PATCH of one field cannot
 * drop a concurrent PATCH of another, and a PUT never keeps a secret from a stale read).
 */
import { randomUUID } from 'node:crypto';
import {
  isValidResourceId,
  type KindDef,
  maskSecrets,
  mergeSecretsForReplace,
  validateWrite,
} from '@aisix/core';
import { type ResourceStore, type StoredDoc, StoreError, type UniqueConstraint } from '@aisix/store';
import type { Context } from 'hono';
import { keepKeyHashOnReplace, prepareApiKeyCreate, readRotateOptions, rotateApiKey } from './api-keys.js';
import { readJsonBody } from './body.js';
import { AdminHttpError, MSG_NOT_FOUND } from './errors.js';
import { mergePatch } from './merge-patch.js';
import { type IfMatch, ifMatchAccepts, preconditionFailed } from './precondition.js';
import type { ResourceReader } from './reader.js';

export interface ResourceEntry {
  readonly id: string;
  readonly value: Record<string, unknown>;
  readonly revision: number;
}

export interface ResourceDeps {
  readonly store: ResourceStore;
  readonly reader: ResourceReader;
}

export function publicEntry(kind: KindDef, doc: StoredDoc): ResourceEntry {
  return { id: doc.id, value: maskSecrets(kind, doc.value), revision: doc.revision };
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Ids come from the URL. One that could not be a stored id (traversal such as `../x`,
 * control characters, empty) is refused here so it never becomes part of a store key.
 */
export function requireId(c: Context): string {
  const id = c.req.param('id') ?? '';
  if (!isValidResourceId(id)) throw new AdminHttpError(400, 'invalid resource id');
  return id;
}

function validated(kind: KindDef, doc: unknown): Record<string, unknown> {
  const res = validateWrite(kind, doc);
  if (!res.ok) throw new AdminHttpError(400, res.message);
  return res.value;
}

export function uniqueFor(kind: KindDef, value: Record<string, unknown>): UniqueConstraint | undefined {
  if (kind.nameField === null) return undefined;
  const v = value[kind.nameField];
  return typeof v === 'string' ? { field: kind.nameField, value: v } : undefined;
}

async function mustGet(deps: ResourceDeps, kind: KindDef, id: string): Promise<StoredDoc> {
  const doc = await deps.reader.get(kind.kind, id);
  if (doc === null) throw new AdminHttpError(404, MSG_NOT_FOUND);
  return doc;
}

export async function listResources(deps: ResourceDeps, kind: KindDef): Promise<ResourceEntry[]> {
  const docs = await deps.reader.list(kind.kind);
  return docs.map((d) => publicEntry(kind, d));
}

export async function getResource(deps: ResourceDeps, kind: KindDef, id: string): Promise<ResourceEntry> {
  return publicEntry(kind, await mustGet(deps, kind, id));
}

/** POST: server-generated UUID v4 id; api keys may get a generated key (plaintext once). */
export async function createResource(
  deps: ResourceDeps,
  kind: KindDef,
  req: Request,
): Promise<ResourceEntry & { plaintext?: string }> {
  const body = await readJsonBody(req);
  const { doc, plaintext } = prepareApiKeyCreate(kind, body);
  const value = validated(kind, doc);
  const unique = uniqueFor(kind, value);
  // A UUID v4 collision is practically impossible; one retry covers it without a loop.
  let id = randomUUID();
  let res: { revision: number };
  try {
    res = await deps.store.create(kind.kind, id, value, unique);
  } catch (err) {
    if (!(err instanceof StoreError && err.code === 'exists')) throw err;
    id = randomUUID();
    res = await deps.store.create(kind.kind, id, value, unique);
  }
  const entry = publicEntry(kind, { id, value, revision: res.revision });
  return plaintext === undefined ? entry : { ...entry, plaintext };
}

/** Bounded retries of an unconditional read-merge-write that keeps losing its compare. */
const UPDATE_ATTEMPTS = 20;

/**
 * Read, build the new document from the stored one, and write it only if the resource is
 * still at the revision read. `build` may run more than once (after a lost race), each time on
 * a fresh read, so whatever it generates (a rotated key) belongs to the attempt that committed.
 */
async function guardedUpdate<T extends { value: Record<string, unknown> }>(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  ifMatch: IfMatch | undefined,
  build: (stored: StoredDoc) => T,
): Promise<T & { revision: number }> {
  for (let attempt = 1; ; attempt++) {
    const stored = await mustGet(deps, kind, id);
    if (ifMatch !== undefined && !ifMatchAccepts(ifMatch, stored.revision)) {
      throw preconditionFailed(kind.kind, id, stored.revision);
    }
    const next = build(stored);
    try {
      const res = await deps.store.replace(kind.kind, id, next.value, uniqueFor(kind, next.value), {
        ifRevision: stored.revision,
      });
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

/** PUT: replace-only (404 when absent); omitted or masked secrets keep the stored ones. */
export async function replaceResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  req: Request,
  ifMatch?: IfMatch,
): Promise<ResourceEntry> {
  const body = await readJsonBody(req);
  const res = await guardedUpdate(deps, kind, id, ifMatch, (stored) => {
    let doc: unknown = body;
    if (isPlainObject(body))
      doc = keepKeyHashOnReplace(kind, mergeSecretsForReplace(kind, body, stored.value), stored.value);
    return { value: validated(kind, doc) };
  });
  return publicEntry(kind, { id, value: res.value, revision: res.revision });
}

/**
 * PATCH: a JSON merge patch (RFC 7396) applied to the stored document, then validated as a
 * whole like a PUT. `null` removes a field; a secret sent back masked keeps the stored one.
 */
export async function patchResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  req: Request,
  ifMatch?: IfMatch,
): Promise<ResourceEntry> {
  const patch = await readJsonBody(req);
  if (!isPlainObject(patch)) {
    throw new AdminHttpError(400, 'a merge patch must be a JSON object (RFC 7396); use PUT to replace');
  }
  const res = await guardedUpdate(deps, kind, id, ifMatch, (stored) => {
    const merged = mergePatch(stored.value, patch);
    return { value: validated(kind, mergeSecretsForReplace(kind, merged, stored.value)) };
  });
  return publicEntry(kind, { id, value: res.value, revision: res.revision });
}

/** DELETE; with If-Match only while the resource is at an accepted revision. */
export async function deleteResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  ifMatch?: IfMatch,
): Promise<{ deleted: true; id: string }> {
  if (ifMatch === undefined) {
    await deps.store.delete(kind.kind, id);
    return { deleted: true, id };
  }
  const stored = await mustGet(deps, kind, id);
  if (!ifMatchAccepts(ifMatch, stored.revision)) throw preconditionFailed(kind.kind, id, stored.revision);
  try {
    await deps.store.delete(kind.kind, id, { ifRevision: stored.revision });
  } catch (err) {
    if (err instanceof StoreError && err.code === 'revision_mismatch') {
      throw preconditionFailed(kind.kind, id, err.currentRevision ?? stored.revision);
    }
    throw err;
  }
  return { deleted: true, id };
}

export async function rotateResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  req: Request,
  ifMatch?: IfMatch,
): Promise<{ entry: ResourceEntry; plaintext: string }> {
  const opts = await readRotateOptions(req);
  const res = await guardedUpdate(deps, kind, id, ifMatch, (stored) => rotateApiKey(stored.value, opts));
  return {
    entry: publicEntry(kind, { id, value: res.value, revision: res.revision }),
    plaintext: res.plaintext,
  };
}
