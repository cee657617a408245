/**
 * Secrets on the admin surface: masking on every read, keeping stored secrets on replace,
 * and caller-key hashing/generation.
 *
 * A masked secret keeps a short hint (`****` + its last 4 characters) so operators can tell
 * keys apart; secrets shorter than MIN_HINT_LENGTH are fully masked, because 4 characters of
 * a short secret give too much of it away. Which fields are secret comes from the kinds table
 * (`secretPaths`, dotted; a final `*` means every value of a map).
 */
import { createHash, randomUUID } from 'node:crypto';
import { type KindDef, type KindName, kindByName } from './kinds.js';

export const MASK = '****';
/** Secrets shorter than this are masked entirely (no hint). */
export const MIN_HINT_LENGTH = 12;

export function maskSecret(secret: string): string {
  return secret.length < MIN_HINT_LENGTH ? MASK : MASK + secret.slice(-4);
}

/** True for strings shaped like `maskSecret` output (`****` plus at most 4 characters). */
export function isMaskedSecret(s: unknown): boolean {
  return typeof s === 'string' && s.startsWith(MASK) && s.length <= MASK.length + 4;
}

type Doc = Record<string, unknown>;

function isPlainObject(x: unknown): x is Doc {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function secretPathsOf(kind: KindName | KindDef): readonly string[][] {
  const def = typeof kind === 'string' ? kindByName(kind) : kind;
  return (def?.secretPaths ?? []).map((p) => p.split('.'));
}

function getAt(doc: Readonly<Doc>, path: readonly string[]): unknown {
  let node: unknown = doc;
  for (const step of path) {
    if (!isPlainObject(node)) return undefined;
    node = node[step];
  }
  return node;
}

/** Object holding the last step of `path`, or undefined when some step is not an object. */
function parentOf(doc: Doc, path: readonly string[]): Doc | undefined {
  const parent = getAt(doc, path.slice(0, -1));
  return isPlainObject(parent) ? parent : undefined;
}

/** Deep copy of `value` with every secret string replaced by its masked form. */
export function maskSecrets(kind: KindName | KindDef, value: Readonly<Doc>): Doc {
  const out = structuredClone(value) as Doc;
  for (const path of secretPathsOf(kind)) {
    const leaf = path[path.length - 1] as string;
    if (leaf === '*') {
      const map = getAt(out, path.slice(0, -1));
      if (!isPlainObject(map)) continue;
      for (const [k, s] of Object.entries(map)) if (typeof s === 'string') map[k] = maskSecret(s);
      continue;
    }
    const parent = parentOf(out, path);
    const s = parent?.[leaf];
    if (parent !== undefined && typeof s === 'string') parent[leaf] = maskSecret(s);
  }
  return out;
}

/**
 * Input-only aliases of top-level secrets: the provider-key credential may be sent (and may
 * have been written directly to etcd) as `secret`; it is stored as `api_key`.
 */
const ALIAS_OF: Readonly<Record<string, string>> = { api_key: 'secret' };
/** `field` is the input alias of another secret field of the same kind. */
function isAliasIn(field: string, names: ReadonlySet<string>): boolean {
  for (const [primary, alias] of Object.entries(ALIAS_OF))
    if (alias === field && names.has(primary)) return true;
  return false;
}

/**
 * The document to validate for a PUT: a secret the body omits, or sends back masked, is
 * taken from the stored document. Secrets inside maps (`headers.*`) are restored only when
 * sent back masked: omitting a map entry removes it. Nothing carries over when the body
 * switches to another `kind` (a different vendor's credential must not be reused).
 */
export function mergeSecretsForReplace(
  kind: KindName | KindDef,
  incoming: Readonly<Doc>,
  stored: Readonly<Doc>,
): Doc {
  const paths = secretPathsOf(kind);
  const out = structuredClone(incoming) as Doc;
  if ('kind' in incoming && 'kind' in stored && incoming.kind !== stored.kind) return out;
  const names = new Set(paths.map((p) => p.join('.')));
  for (const path of paths) {
    const leaf = path[path.length - 1] as string;
    if (leaf === '*') restoreMapEntries(out, stored, path.slice(0, -1));
    // An alias is restored through its primary field, when the kind has one (provider keys'
    // `secret` through `api_key`); a kind whose own secret is named `secret` (MCP servers,
    // A2A agents) restores it like any other.
    else if (!(path.length === 1 && isAliasIn(leaf, names))) {
      const alias = path.length === 1 ? ALIAS_OF[leaf] : undefined;
      restoreLeaf(out, stored, path, alias !== undefined && names.has(alias) ? alias : undefined);
    }
  }
  return out;
}

function restoreLeaf(
  out: Doc,
  stored: Readonly<Doc>,
  path: readonly string[],
  alias: string | undefined,
): void {
  const leaf = path[path.length - 1] as string;
  let storedSecret = getAt(stored, path);
  if (storedSecret === undefined && alias !== undefined) storedSecret = stored[alias];
  if (typeof storedSecret !== 'string') return;
  const parent = parentOf(out, path);
  if (parent === undefined) return;
  if (alias !== undefined && alias in parent) {
    // Sent under the alias: masked means "keep", anything else is a new credential.
    if (isMaskedSecret(parent[alias]) && !(leaf in parent)) {
      delete parent[alias];
      parent[leaf] = storedSecret;
    }
    return;
  }
  if (!(leaf in parent) || isMaskedSecret(parent[leaf])) parent[leaf] = storedSecret;
}

function restoreMapEntries(out: Doc, stored: Readonly<Doc>, mapPath: readonly string[]): void {
  const inMap = getAt(out, mapPath);
  const storedMap = getAt(stored, mapPath);
  if (!isPlainObject(inMap) || !isPlainObject(storedMap)) return;
  for (const [k, s] of Object.entries(inMap)) {
    const prev = storedMap[k];
    if (isMaskedSecret(s) && typeof prev === 'string') inMap[k] = prev;
  }
}

/** Lowercase hex SHA-256 of the full bearer plaintext: the only form a caller key is stored in. */
export function hashApiKey(plaintext: string): string {
  return createHash('sha256').update(plaintext, 'utf8').digest('hex');
}

/** `sk-` + 32 lowercase hex characters (a random UUID v4 without hyphens), as rotate issues. */
export function generateApiKey(): string {
  return `sk-${randomUUID().replaceAll('-', '')}`;
}
