/**
 * `mcp_servers` and `mcp_policies`. A server's label arrives as `name` or `display_name`
 * (exactly one) and is stored as `name`; tools are exposed as `<name>__<tool>`, so the name
 * must not contain `__` nor end with `_`. The credential and OpenAPI couplings are kind
 * rules: their failures read as the rule text, not as a schema pointer.
 */
import * as v from 'valibot';
import {
  anyObject,
  carryUnknown,
  exactlyOneLabel,
  intRange,
  isPlainObject,
  labelAsName,
  type Mode,
  nonEmpty,
  obj,
  rule,
} from './common.js';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
/** RFC 9110 token characters. */
const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An OpenAPI 3.x document with at least one operation (each operation becomes a tool). */
export function openApiToolCount(spec: Readonly<Record<string, unknown>>): number {
  if (typeof spec.openapi !== 'string' || !spec.openapi.startsWith('3.')) return 0;
  const paths = spec.paths;
  if (!isPlainObject(paths)) return 0;
  let n = 0;
  for (const item of Object.values(paths)) {
    if (!isPlainObject(item)) continue;
    for (const m of HTTP_METHODS) if (isPlainObject(item[m])) n += 1;
  }
  return n;
}

interface ServerFields {
  name?: string | undefined;
  display_name?: string | undefined;
  type: 'mcp' | 'openapi';
  auth_type: 'none' | 'bearer' | 'api_key' | 'oauth2';
  secret?: string | undefined;
  client_id?: string | undefined;
  token_url?: string | undefined;
  api_key_header?: string | undefined;
  spec?: Record<string, unknown> | undefined;
}

const label = (s: ServerFields): string => s.name ?? s.display_name ?? '';

export function mcpServerSchema(mode: Mode) {
  return v.pipe(
    obj(mode, {
      name: v.optional(nonEmpty),
      display_name: v.optional(nonEmpty),
      url: nonEmpty,
      type: v.optional(v.picklist(['mcp', 'openapi']), 'mcp'),
      transport: v.optional(v.literal('streamable_http'), 'streamable_http'),
      auth_type: v.optional(v.picklist(['none', 'bearer', 'api_key', 'oauth2']), 'none'),
      secret: v.optional(v.string()),
      client_id: v.optional(nonEmpty),
      token_url: v.optional(nonEmpty),
      scopes: v.optional(v.array(v.string())),
      api_key_header: v.optional(v.string()),
      spec: v.optional(anyObject),
      timeout_ms: v.optional(intRange(1)),
      enabled: v.optional(v.boolean(), true),
    }),
    rule(
      (s) => exactlyOneLabel(s),
      'malformed McpServer payload: exactly one of `name` or `display_name` is required',
    ),
    rule((s) => !label(s).includes('__'), 'mcp server name must not contain "__"'),
    rule((s) => !label(s).endsWith('_'), 'mcp server name must not end with "_"'),
    rule(
      (s) => s.auth_type === 'none' || (s.secret !== undefined && s.secret !== ''),
      'mcp server auth_type bearer, api_key and oauth2 require a non-empty secret',
    ),
    rule(
      (s) => s.auth_type !== 'oauth2' || (s.client_id !== undefined && s.token_url !== undefined),
      'mcp server auth_type oauth2 requires client_id and token_url',
    ),
    rule(
      (s) => s.type !== 'mcp' || (s.spec === undefined && s.api_key_header === undefined),
      'mcp server of type mcp must not carry spec or api_key_header',
    ),
    rule(
      (s) => s.api_key_header === undefined || s.auth_type === 'api_key',
      'api_key_header is only allowed with type openapi and auth_type api_key',
    ),
    rule(
      (s) => s.api_key_header === undefined || HEADER_TOKEN.test(s.api_key_header),
      'api_key_header must be a valid HTTP header name',
    ),
    rule(
      (s) => s.type !== 'openapi' || (s.spec !== undefined && openApiToolCount(s.spec) > 0),
      'mcp server of type openapi requires an OpenAPI 3.x spec that yields at least one tool',
    ),
    v.transform((s) => {
      const out = labelAsName(s);
      if (out.type === 'openapi' && out.auth_type === 'api_key' && out.api_key_header === undefined) {
        out.api_key_header = 'x-api-key';
      }
      return carryUnknown(s, out);
    }),
  );
}

export type McpServer = v.InferOutput<ReturnType<typeof mcpServerSchema>>;

export function mcpPolicySchema(mode: Mode) {
  return v.pipe(
    obj(mode, {
      mode: v.picklist(['none', 'selected', 'all']),
      scope: v.picklist(['env', 'team']),
      scope_ref: v.optional(nonEmpty),
      allow: v.optional(v.array(v.string())),
      deny: v.optional(v.array(v.string())),
      enabled: v.optional(v.boolean(), true),
    }),
    v.check(
      (p) => p.scope !== 'team' || p.scope_ref !== undefined,
      '"scope_ref" is required when scope is team',
    ),
  );
}

export type McpPolicy = v.InferOutput<ReturnType<typeof mcpPolicySchema>>;
