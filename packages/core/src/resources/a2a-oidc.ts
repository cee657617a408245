/**
 * `a2a_agents` and `oidc_providers`. An agent is served at `/a2a/<name>`, so its label
 * (`name` or `display_name`, exactly one, stored as `name`) must be a single URL path
 * segment. OIDC providers let api keys authenticate with a JWT whose subject they bind.
 * File-mode cross checks (distinct issuers, no credentials in URLs) live with the file loader.
 */
import * as v from 'valibot';
import {
  carryUnknown,
  exactlyOneLabel,
  httpUrl,
  intRange,
  isHttpUrl,
  labelAsName,
  type Mode,
  map,
  nonEmpty,
  obj,
  rule,
} from './common.js';

/** No `/ ? # %`, whitespace, C0/C1 controls or DEL. */
const PATH_SEGMENT_FORBIDDEN = /[/?#%\s\u0000-\u001f\u007f-\u009f]/;

export function isPathSegmentName(name: string): boolean {
  return name !== '' && !PATH_SEGMENT_FORBIDDEN.test(name);
}

export function a2aAgentSchema(mode: Mode) {
  return v.pipe(
    obj(mode, {
      name: v.optional(nonEmpty),
      display_name: v.optional(nonEmpty),
      url: httpUrl(mode),
      protocol_version: v.optional(v.picklist(['1.0', '0.3']), '1.0'),
      auth_type: v.optional(v.picklist(['none', 'bearer', 'api_key']), 'none'),
      secret: v.optional(v.string()),
      timeout_ms: v.optional(intRange(1)),
      enabled: v.optional(v.boolean(), true),
    }),
    rule(
      (a) => exactlyOneLabel(a),
      'malformed A2aAgent payload: exactly one of `name` or `display_name` is required',
    ),
    rule(
      (a) => isPathSegmentName(a.name ?? a.display_name ?? ''),
      'a2a agent name must be one URL path segment (no "/", "?", "#", "%", whitespace or control characters)',
    ),
    rule(
      (a) => a.auth_type === 'none' || (a.secret !== undefined && a.secret !== ''),
      'a2a agent auth_type bearer and api_key require a non-empty secret',
    ),
    v.transform((a) => carryUnknown(a, labelAsName(a))),
  );
}

export type A2aAgent = v.InferOutput<ReturnType<typeof a2aAgentSchema>>;

/**
 * `jwks_uri` is fetched, so on write it must be an absolute http(s) URL. `issuer` is compared
 * with `iss` byte for byte, which any string can be (RFC 7519 StringOrURI); without `jwks_uri`
 * the keys are found by OIDC discovery from it, so it must then be an http(s) URL too. Lenient
 * reads keep older documents loading.
 */
export function oidcProviderSchema(mode: Mode) {
  return v.pipe(
    obj(mode, {
      name: nonEmpty,
      issuer: nonEmpty,
      audiences: v.pipe(v.array(nonEmpty), v.minLength(1)),
      jwks_uri: v.optional(httpUrl(mode)),
      identity_claim: v.optional(nonEmpty, 'sub'),
      required_scopes: v.optional(v.array(v.string())),
      bound_claims: v.optional(map(v.union([v.string(), v.pipe(v.array(v.string()), v.minLength(1))]))),
      leeway_secs: v.optional(intRange(0, 300), 0),
      enabled: v.optional(v.boolean(), true),
    }),
    v.forward(
      v.check(
        (p) => mode === 'lenient' || p.jwks_uri !== undefined || isHttpUrl(p.issuer),
        'must be an absolute http(s) URL when jwks_uri is absent (keys are found by OIDC discovery from the issuer)',
      ),
      ['issuer'],
    ),
  );
}

export type OidcProvider = v.InferOutput<ReturnType<typeof oidcProviderSchema>>;
