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

/**
 * The masked form of whatever a secret field holds: a string keeps its hint; any other value
 * (a number, an object, an array... as a direct writer may store) is masked entirely, since
 * its type alone says nothing about what it reveals. null holds nothing and stays null.
 */
function maskAny(v: unknown): unknown {
  if (v === null) return null;
  return typeof v === 'string' ? maskSecret(v) : MASK;
}

/**
 * Deep copy of `value` with every value at a secret path masked, whatever its type. Where a
 * secret's container is not an object (a `headers` that is an array, an `aws_credentials` that
 * is a string), the container itself is masked: it may hold the secret in another shape.
 */
export function maskSecrets(kind: KindName | KindDef, value: Readonly<Doc>): Doc {
  const out = structuredClone(value) as Doc;
  for (const path of secretPathsOf(kind)) {
    const leaf = path[path.length - 1] as string;
    const containerPath = path.slice(0, -1);
    if (!maskMalformedContainer(out, containerPath)) continue;
    const container = getAt(out, containerPath);
    if (!isPlainObject(container)) continue;
    if (leaf === '*') {
      for (const [k, s] of Object.entries(container)) container[k] = maskAny(s);
    } else if (leaf in container && container[leaf] !== undefined) {
      container[leaf] = maskAny(container[leaf]);
    }
  }
  return out;
}

/**
 * Walks `path` from the root; the first node on it that is present but not an object is
 * masked in place. True when the walk reached the end (the container is an object or absent).
 */
function maskMalformedContainer(doc: Doc, path: readonly string[]): boolean {
  let node: Doc = doc;
  for (const step of path) {
    const next = node[step];
    if (next === undefined || next === null) return false;
    if (!isPlainObject(next)) {
      node[step] = MASK;
      return false;
    }
    node = next;
  }
  return true;
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

/** A write that switches `kind` (a guardrail to another vendor) keeps nothing of the stored secrets. */
function switchesKind(incoming: Readonly<Doc>, stored: Readonly<Doc>): boolean {
  return 'kind' in incoming && 'kind' in stored && incoming.kind !== stored.kind;
}

/**
 * The document to validate for a PUT: a secret the body omits, or sends back masked, is
 * taken from the stored document. Secrets inside maps (`headers.*`) are restored only when
 * sent back masked: omitting a map entry removes it. Nothing carries over when the body
 * switches to another `kind` (a different vendor's credential must not be reused). A mask
 * that has no stored secret to stand for stays in place: `introducedMask` finds it.
 */
export function mergeSecretsForReplace(
  kind: KindName | KindDef,
  incoming: Readonly<Doc>,
  stored: Readonly<Doc>,
): Doc {
  const paths = secretPathsOf(kind);
  const out = structuredClone(incoming) as Doc;
  if (switchesKind(incoming, stored)) return out;
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
  // Whatever the stored secret is (a direct writer may have stored a number), it is what the
  // mask stands for: kept, so validation judges it, never replaced by the mask text.
  if (storedSecret === undefined || storedSecret === null) return;
  const parent = parentOf(out, path);
  if (parent === undefined) return;
  if (alias !== undefined && alias in parent) {
    // Sent under the alias: masked means "keep", anything else is a new credential.
    if (isMaskedSecret(parent[alias]) && !(leaf in parent)) {
      delete parent[alias];
      parent[leaf] = structuredClone(storedSecret);
    }
    return;
  }
  if (!(leaf in parent) || isMaskedSecret(parent[leaf])) parent[leaf] = structuredClone(storedSecret);
}

function restoreMapEntries(out: Doc, stored: Readonly<Doc>, mapPath: readonly string[]): void {
  const inMap = getAt(out, mapPath);
  const storedMap = getAt(stored, mapPath);
  if (!isPlainObject(inMap) || !isPlainObject(storedMap)) return;
  for (const [k, s] of Object.entries(inMap)) {
    const prev = storedMap[k];
    if (isMaskedSecret(s) && prev !== undefined && prev !== null) inMap[k] = structuredClone(prev);
  }
}

/**
 * A merge patch (RFC 7396) as it applies to the stored document's secrets, for PATCH:
 *  - a top-level secret sent under its input alias (a provider key's `secret`) is moved to its
 *    primary field (`api_key`), and the other spelling is removed from the stored document, so
 *    the merged document holds one of the two; `null` under either spelling removes the secret;
 *  - a secret sent back masked stands for the stored one and is replaced by it (same `kind`
 *    only); a mask with no stored secret behind it stays, for `introducedMask` to refuse;
 *  - `null` is left alone: the merge removes the field (then validation judges the document).
 */
export function resolvePatchSecrets(
  kind: KindName | KindDef,
  patch: Readonly<Doc>,
  stored: Readonly<Doc>,
): Doc {
  const paths = secretPathsOf(kind);
  const names = new Set(paths.map((p) => p.join('.')));
  const out = structuredClone(patch) as Doc;
  for (const [primary, alias] of Object.entries(ALIAS_OF)) {
    if (!names.has(primary) || !names.has(alias)) continue;
    const hasAlias = Object.hasOwn(out, alias);
    const hasPrimary = Object.hasOwn(out, primary);
    // Both spellings in one patch: left as sent, validation refuses the pair.
    if (hasAlias && !hasPrimary) {
      define(out, primary, out[alias]);
      define(out, alias, null);
    } else if (hasPrimary && !hasAlias) define(out, alias, null);
  }
  if (switchesKind(patch, stored)) return out;
  for (const path of paths) {
    const leaf = path[path.length - 1] as string;
    if (leaf === '*') {
      restoreMapEntries(out, stored, path.slice(0, -1));
      continue;
    }
    if (path.length === 1 && isAliasIn(leaf, names)) continue;
    const parent = parentOf(out, path);
    if (parent === undefined || !isMaskedSecret(parent[leaf])) continue;
    let storedSecret = getAt(stored, path);
    const alias = path.length === 1 ? ALIAS_OF[leaf] : undefined;
    if ((storedSecret === undefined || storedSecret === null) && alias !== undefined && names.has(alias))
      storedSecret = stored[alias];
    if (storedSecret !== undefined && storedSecret !== null) parent[leaf] = structuredClone(storedSecret);
  }
  return out;
}

function define(doc: Doc, key: string, value: unknown): void {
  Object.defineProperty(doc, key, { value, enumerable: true, writable: true, configurable: true });
}

function escapePointerStep(step: string): string {
  return step.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * The JSON pointer of the first secret field of `doc` (the document a write is about to store)
 * that holds a mask-shaped string (`****`, `****ab12`) the write brings in: any such value
 * other than the very one already stored at that path, and every one when the write switches
 * `kind`. The mask is never stored as the credential: a mask that could not be resolved to a
 * stored secret (the field did not exist, or belonged to another vendor) is the caller's error.
 */
export function introducedMask(
  kind: KindName | KindDef,
  doc: Readonly<Doc>,
  stored: Readonly<Doc>,
): string | undefined {
  const keep = !switchesKind(doc, stored);
  const same = (path: readonly string[], v: unknown): boolean => keep && getAt(stored, path) === v;
  for (const path of secretPathsOf(kind)) {
    const leaf = path[path.length - 1] as string;
    if (leaf === '*') {
      const mapPath = path.slice(0, -1);
      const map = getAt(doc, mapPath);
      if (!isPlainObject(map)) continue;
      for (const [k, v] of Object.entries(map)) {
        if (isMaskedSecret(v) && !same([...mapPath, k], v)) return pointerOf([...mapPath, k]);
      }
      continue;
    }
    const v = getAt(doc, path);
    if (isMaskedSecret(v) && !same(path, v)) return pointerOf(path);
  }
  return undefined;
}

function pointerOf(path: readonly string[]): string {
  return path.map((s) => `/${escapePointerStep(s)}`).join('');
}

/** The message of the 400 a mask brought in by a write gets (`introducedMask`). */
export function maskedValueMessage(pointer: string): string {
  return `schema validation failed at ${pointer}: is a masked value (as reads show it), not a credential; send the secret itself`;
}

/** JSON pointers of the secret fields a merge patch removes (sends as `null`). */
export function nulledSecrets(kind: KindName | KindDef, patch: Readonly<Doc>): string[] {
  const out: string[] = [];
  for (const path of secretPathsOf(kind)) {
    const leaf = path[path.length - 1] as string;
    if (leaf === '*') {
      const mapPath = path.slice(0, -1);
      const map = getAt(patch, mapPath);
      if (map === null) out.push(pointerOf(mapPath));
      else if (isPlainObject(map))
        for (const [k, v] of Object.entries(map)) if (v === null) out.push(pointerOf([...mapPath, k]));
      continue;
    }
    if (getAt(patch, path) === null) out.push(pointerOf(path));
  }
  return out;
}

/** Lowercase hex SHA-256 of the full bearer plaintext: the only form a caller key is stored in. */
export function hashApiKey(plaintext: string): string {
  return createHash('sha256').update(plaintext, 'utf8').digest('hex');
}

/** `sk-` + 32 lowercase hex characters (a random UUID v4 without hyphens), as rotate issues. */
export function generateApiKey(): string {
  return `sk-${randomUUID().replaceAll('-', '')}`;
}
