/**
 * File-only sugar, rewritten before schema validation so every entry ends up as a canonical
 * document: a model's `provider_key` name becomes `provider_key_id`, an api key's `key_env`
 * becomes `key_hash` (the plaintext is hashed here and never echoed), and rate-limit policy
 * references to api keys / models by name become their derived ids. An api key's
 * `display_name` stays in the document (it feeds `${request.api_key.name}`).
 */
import { createHash } from 'node:crypto';
import type { KindName } from '../kinds.js';
import { type Env, joinPath } from './interpolate.js';

export class SugarError extends Error {}

/** identity → derived id, per kind (first occurrence of each identity). */
export type IdIndex = ReadonlyMap<KindName, ReadonlyMap<string, string>>;

export interface SugarContext {
  env: Env;
  ids: IdIndex;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function definedNames(ctx: SugarContext, kind: KindName): string {
  const names = [...(ctx.ids.get(kind)?.keys() ?? [])];
  return names.length === 0 ? 'none defined' : `defined: ${names.map((n) => `"${n}"`).join(', ')}`;
}

function modelSugar(doc: Record<string, unknown>, ctx: SugarContext): Record<string, unknown> {
  if (!('provider_key' in doc)) return doc;
  const { provider_key: name, ...rest } = doc;
  if ('provider_key_id' in doc)
    throw new SugarError('provider_key and provider_key_id are mutually exclusive');
  if (typeof name !== 'string')
    throw new SugarError('provider_key must be the display_name of a provider key');
  const id = ctx.ids.get('provider_keys')?.get(name);
  if (id === undefined) {
    throw new SugarError(
      `provider_key "${name}" names no provider key (${definedNames(ctx, 'provider_keys')})`,
    );
  }
  return { ...rest, provider_key_id: id };
}

function apiKeySugar(doc: Record<string, unknown>, ctx: SugarContext): Record<string, unknown> {
  const hasEnv = 'key_env' in doc;
  const hasHash = 'key_hash' in doc;
  if (hasEnv && hasHash) throw new SugarError('key_env and key_hash are mutually exclusive');
  if (!hasEnv && !hasHash) throw new SugarError('one of key_env or key_hash is required');
  if (!hasEnv) return doc;
  const { key_env: name, ...rest } = doc;
  if (typeof name !== 'string' || name === '')
    throw new SugarError('key_env must name an environment variable');
  const plaintext = ctx.env[name];
  if (plaintext === undefined) throw new SugarError(`key_env: environment variable ${name} is not set`);
  if (plaintext === '') throw new SugarError(`key_env: environment variable ${name} is empty`);
  if (plaintext.includes('${')) {
    throw new SugarError(`key_env: the value of environment variable ${name} must not contain "\${"`);
  }
  return { ...rest, key_hash: createHash('sha256').update(plaintext, 'utf8').digest('hex') };
}

const REF_KIND: Readonly<Record<string, KindName>> = { api_key: 'api_keys', model: 'models' };
const REF_LABEL: Readonly<Record<string, string>> = { api_keys: 'api key', models: 'model' };

/** A name (or an already-derived id) of an entry of `kind` → its id. */
function resolveRef(value: unknown, kind: KindName, path: string, ctx: SugarContext): unknown {
  if (typeof value !== 'string') return value; // the schema reports the type error
  const index = ctx.ids.get(kind);
  const id = index?.get(value);
  if (id !== undefined) return id;
  if (index && [...index.values()].includes(value)) return value;
  throw new SugarError(`${path}: "${value}" names no ${REF_LABEL[kind]} (${definedNames(ctx, kind)})`);
}

function resolveConditions(node: unknown, path: string, ctx: SugarContext): unknown {
  if (Array.isArray(node)) return node.map((n, i) => resolveConditions(n, joinPath(path, i), ctx));
  if (!isRecord(node)) return node;
  if (Array.isArray(node.children)) {
    return { ...node, children: resolveConditions(node.children, joinPath(path, 'children'), ctx) };
  }
  const kind = typeof node.dimension === 'string' ? REF_KIND[node.dimension] : undefined;
  if (kind === undefined || !('value' in node)) return node;
  const vpath = joinPath(path, 'value');
  const value = Array.isArray(node.value)
    ? node.value.map((v, i) => resolveRef(v, kind, joinPath(vpath, i), ctx))
    : resolveRef(node.value, kind, vpath, ctx);
  return { ...node, value };
}

function policySugar(doc: Record<string, unknown>, ctx: SugarContext): Record<string, unknown> {
  let out = doc;
  const kind = typeof doc.scope === 'string' ? REF_KIND[doc.scope] : undefined;
  if (kind !== undefined && 'scope_ref' in doc) {
    out = { ...out, scope_ref: resolveRef(doc.scope_ref, kind, 'scope_ref', ctx) };
  }
  if (Array.isArray(doc.conditions)) {
    out = { ...out, conditions: resolveConditions(doc.conditions, 'conditions', ctx) };
  }
  return out;
}

/** Applies the sugar of `kind`; throws SugarError with the message for the entry. */
export function desugar(
  kind: KindName,
  doc: Record<string, unknown>,
  ctx: SugarContext,
): Record<string, unknown> {
  switch (kind) {
    case 'models':
      return modelSugar(doc, ctx);
    case 'api_keys':
      return apiKeySugar(doc, ctx);
    case 'rate_limit_policies':
      return policySugar(doc, ctx);
    default:
      return doc;
  }
}
