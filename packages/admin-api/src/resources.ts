/**
 * The generic resource handlers: list, create, get, replace, delete (and rotate for kinds
 * that hold a caller-key hash). Nothing here names a kind except through its `KindDef`;
 * api-key specifics (generated keys, rotation) live in `api-keys.ts`.
 *
 * Secrets are masked on every entry that leaves this module; a PUT that omits a secret or
 * sends the mask back keeps the stored one (core's `mergeSecretsForReplace`). References are
 * checked after validation and before the store is touched (`references.ts`).
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
import { keepKeyHashOnReplace, prepareApiKeyCreate, rotateApiKey } from './api-keys.js';
import { readJsonBody } from './body.js';
import { AdminHttpError, MSG_NOT_FOUND } from './errors.js';
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
  await checkWriteReferences(deps.reader, kind, id, value, false);
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

/** PUT: replace-only (404 when absent); omitted or masked secrets keep the stored ones. */
export async function replaceResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
  req: Request,
): Promise<ResourceEntry> {
  const body = await readJsonBody(req);
  const stored = await mustGet(deps, kind, id);
  let doc: unknown = body;
  if (isPlainObject(body))
    doc = keepKeyHashOnReplace(kind, mergeSecretsForReplace(kind, body, stored.value), stored.value);
  const value = validated(kind, doc);
  await checkWriteReferences(deps.reader, kind, id, value, true);
  const res = await deps.store.replace(kind.kind, id, value, uniqueFor(kind, value));
  return publicEntry(kind, { id, value, revision: res.revision });
}

export async function deleteResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
): Promise<{ deleted: true; id: string }> {
  await checkDeleteReferences(deps.reader, kind, id);
  await deps.store.delete(kind.kind, id);
  return { deleted: true, id };
}

export async function rotateResource(
  deps: ResourceDeps,
  kind: KindDef,
  id: string,
): Promise<{ entry: ResourceEntry; plaintext: string }> {
  const stored = await mustGet(deps, kind, id);
  const { value, plaintext } = rotateApiKey(stored.value);
  const res = await deps.store.replace(kind.kind, id, value, uniqueFor(kind, value));
  return { entry: publicEntry(kind, { id, value, revision: res.revision }), plaintext };
}
