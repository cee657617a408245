/**
 * Write checks for JWT caller authentication (agents-and-jobs §4), the rules the resources file
 * applies (control-plane §3.3, §3.11) carried to the Admin API, which in ours can write
 * `oidc_providers` and an api key's `jwt_provider` / `jwt_subject` (the reference cannot):
 *
 * - an api key's `jwt_subject` needs its `jwt_provider` (400): alone it binds nothing;
 * - a `(jwt_provider, jwt_subject)` pair binds one api key (409): the gateway fails a token
 *   whose identity maps to two keys closed (§4.2 step 11), so a second binding would lock the
 *   first key's holder out;
 * - an OIDC provider's `issuer` and `jwks_uri` carry no credentials (400): reads show them as
 *   stored, and the gateway refuses such a JWKS URL anyway (§4.3);
 * - two enabled OIDC providers never share an `issuer` (409): the gateway fails every token of
 *   an issuer two enabled providers claim closed (§4.2 step 3).
 *
 * The pair and issuer checks read the kind before the write (check-then-write, like the
 * reference checks): a write racing through another admin process could still slip between,
 * and then the gateway fails those tokens closed as the contract says.
 */
import { type KindDef, urlHasCredentials } from '@aisix/core';
import { AdminHttpError } from './errors.js';
import type { ResourceReader } from './reader.js';

const isSet = (x: unknown): boolean => x !== undefined && x !== null;

function named(kind: string, id: string, value: Record<string, unknown>): string {
  const name = value.display_name ?? value.name;
  return typeof name === 'string' ? `${kind}/${id} (${JSON.stringify(name)})` : `${kind}/${id}`;
}

async function checkApiKeyBinding(
  reader: ResourceReader,
  kind: KindDef,
  id: string,
  next: Record<string, unknown>,
): Promise<void> {
  const { jwt_subject: subject, jwt_provider: provider } = next;
  if (!isSet(subject)) return;
  if (!isSet(provider)) {
    throw new AdminHttpError(
      400,
      'malformed ApiKey payload: jwt_subject requires jwt_provider (the name of the oidc_providers entry that asserts it)',
    );
  }
  for (const other of await reader.list(kind.kind)) {
    if (other.id === id) continue;
    if (other.value.jwt_subject === subject && other.value.jwt_provider === provider) {
      throw new AdminHttpError(
        409,
        `(jwt_provider, jwt_subject) is already bound to ${named(kind.kind, other.id, other.value)}; ` +
          'a JWT identity maps to one api key (a token whose identity two keys bind is refused)',
      );
    }
  }
}

async function checkOidcProvider(
  reader: ResourceReader,
  kind: KindDef,
  id: string,
  next: Record<string, unknown>,
): Promise<void> {
  for (const field of ['issuer', 'jwks_uri'] as const) {
    const u = next[field];
    if (typeof u === 'string' && urlHasCredentials(u)) {
      throw new AdminHttpError(
        400,
        `schema validation failed at /${field}: must not contain credentials (userinfo or token-like query parameters)`,
      );
    }
  }
  if (next.enabled === false) return;
  for (const other of await reader.list(kind.kind)) {
    if (other.id === id || other.value.enabled === false) continue;
    if (other.value.issuer === next.issuer) {
      throw new AdminHttpError(
        409,
        `issuer is also the issuer of enabled ${named(kind.kind, other.id, other.value)}; ` +
          'tokens of an issuer two enabled providers claim are refused (disable or change one of them)',
      );
    }
  }
}

/** Runs the checks of the written kind on a validated document about to be stored under `id`. */
export async function checkJwtIdentity(
  reader: ResourceReader,
  kind: KindDef,
  id: string,
  next: Record<string, unknown>,
): Promise<void> {
  if (kind.kind === 'api_keys') await checkApiKeyBinding(reader, kind, id, next);
  else if (kind.kind === 'oidc_providers') await checkOidcProvider(reader, kind, id, next);
}
