/**
 * The etcd key layout `<prefix>/<kind>/<id>`: the only place keys are built or parsed.
 *
 * The prefix is compared together with the `/` that must follow it, so `/aisixfoo/models/x`
 * is not read as being under `/aisix`. The remainder splits at its first `/`: the kind is one
 * segment and the id may itself contain `/`. Ids that arrive through admin URLs are checked by
 * `isAddressableResourceId` (any id a direct writer may have chosen, minus traversal segments
 * and control characters); `isValidResourceId` is the stricter shape of a slug-like id.
 */
import { type KindName, kindByName } from './kinds.js';

export type ParsedKey =
  | { ok: true; kind: KindName; id: string }
  | { ok: false; errorKind: 'bad_key' | 'unknown_kind'; kind?: string; id?: string };

function trimTrailingSlashes(prefix: string): string {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 47 /* / */) end -= 1;
  return prefix.slice(0, end);
}

/** `etcd.prefix` without trailing `/`, then `/<env_id>` when an env id is set. */
export function effectivePrefix(prefix: string, envId?: string): string {
  const p = trimTrailingSlashes(prefix);
  return envId !== undefined && envId !== '' ? `${p}/${envId}` : p;
}

export function resourceKey(prefix: string, kind: KindName, id: string): string {
  return `${trimTrailingSlashes(prefix)}/${kind}/${id}`;
}

/** Range prefix of one kind, with its trailing `/` (so `models` never matches `models2`). */
export function kindPrefix(prefix: string, kind: KindName): string {
  return `${trimTrailingSlashes(prefix)}/${kind}/`;
}

/** What gateways range and watch: the prefix with a trailing `/`. */
export function watchPrefix(prefix: string): string {
  return `${trimTrailingSlashes(prefix)}/`;
}

export function parseKey(prefix: string, key: string): ParsedKey {
  const base = watchPrefix(prefix);
  if (!key.startsWith(base)) return { ok: false, errorKind: 'bad_key' };
  const rest = key.slice(base.length);
  const slash = rest.indexOf('/');
  if (slash === -1)
    return rest === ''
      ? { ok: false, errorKind: 'bad_key' }
      : { ok: false, errorKind: 'bad_key', kind: rest };
  const kind = rest.slice(0, slash);
  const id = rest.slice(slash + 1);
  if (kind === '' || id === '') {
    const out: ParsedKey = { ok: false, errorKind: 'bad_key' };
    if (kind !== '') out.kind = kind;
    if (id !== '') out.id = id;
    return out;
  }
  const def = kindByName(kind);
  if (def === undefined) return { ok: false, errorKind: 'unknown_kind', kind, id };
  return { ok: true, kind: def.kind, id };
}

export const MAX_RESOURCE_ID_LENGTH = 256;

// `/` and `\` (path separators), `%` (encoded separators after a second decode),
// whitespace, C0/C1 control characters and DEL.
const FORBIDDEN_ID_CHARS = /[/\\%\s\u0000-\u001f\u007f-\u009f]/;

/**
 * Whether an id taken from an admin URL may name a stored resource. Refuses anything that
 * could change the key's shape once concatenated (`..`, `/`) or hide in logs (controls).
 */
export function isValidResourceId(id: string): boolean {
  if (id.length === 0 || id.length > MAX_RESOURCE_ID_LENGTH) return false;
  if (id === '.' || id === '..') return false;
  return !FORBIDDEN_ID_CHARS.test(id);
}

/** Longest id the Admin API addresses in a path (an etcd key is bounded only by the request size). */
export const MAX_ADDRESSABLE_ID_LENGTH = 4096;

// C0/C1 control characters and DEL: they would hide in logs and terminals.
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Whether an id taken (percent-decoded once) from an admin URL may address a stored resource
 * for a read, replace, patch, delete or rotate. Direct etcd writers choose any id (control-plane
 * §2.3) and an id may contain `/` (§2.1), so `team/g1`, `a b`, `a%b` or a 300-character id are
 * accepted: each is used as one opaque key suffix. Refused: the empty id, control characters,
 * `.` or `..` as a `/`-separated segment (`../x`, `a/../b`), and ids over 4096 characters.
 */
export function isAddressableResourceId(id: string): boolean {
  if (id.length === 0 || id.length > MAX_ADDRESSABLE_ID_LENGTH) return false;
  if (CONTROL_CHARS.test(id)) return false;
  return !id.split('/').some((seg) => seg === '.' || seg === '..');
}
