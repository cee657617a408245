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
  httpUrl,
  intRange,
  isPlainObject,
  labelAsName,
  type Mode,
  nonEmpty,
  obj,
  rule,
} from './common.js';

/** The operations an `openapi` MCP server turns into tools (agents-and-jobs §2.9). */
export const OPENAPI_TOOL_METHODS = ['get', 'post', 'put', 'delete', 'patch'] as const;
/** RFC 9110 token characters. */
const HEADER_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A tool's name before de-duplication: the operationId (else `<method>_<path>`), sanitized. */
export function openApiToolName(method: string, path: string, op: Readonly<Record<string, unknown>>): string {
  const id =
    typeof op.operationId === 'string' && op.operationId !== '' ? op.operationId : `${method}_${path}`;
  return id
    .replace(/[^A-Za-z0-9_-]/g, '_')
    .toLowerCase()
    .slice(0, 128);
}

/** A JSON media type (`application/json`, `application/*+json`), parameters ignored. */
export function isJsonMediaType(mt: string): boolean {
  const base = (mt.split(';')[0] ?? '').trim().toLowerCase();
  return base === 'application/json' || (base.startsWith('application/') && base.endsWith('+json'));
}

/** An operation's request body, following a `#/components/requestBodies/...` reference. */
function requestBodyOf(
  spec: Readonly<Record<string, unknown>>,
  op: Readonly<Record<string, unknown>>,
): unknown {
  const rb = op.requestBody;
  if (!isPlainObject(rb) || typeof rb.$ref !== 'string') return rb;
  const m = /^#\/components\/requestBodies\/([^/]+)$/.exec(rb.$ref);
  const bodies = isPlainObject(spec.components) ? spec.components.requestBodies : undefined;
  return m !== null && isPlainObject(bodies) ? bodies[m[1] as string] : undefined;
}

/**
 * The tool names an OpenAPI 3.x document yields, before de-duplication: one per operation of
 * `OPENAPI_TOOL_METHODS` whose body, if it has one, has a JSON media type (a multipart- or
 * form-only body is skipped). Empty for anything else.
 */
export function openApiToolNames(spec: Readonly<Record<string, unknown>>): string[] {
  if (typeof spec.openapi !== 'string' || !spec.openapi.startsWith('3.')) return [];
  const paths = spec.paths;
  if (!isPlainObject(paths)) return [];
  const names: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    if (!isPlainObject(item)) continue;
    for (const m of OPENAPI_TOOL_METHODS) {
      const op = item[m];
      if (!isPlainObject(op)) continue;
      const rb = requestBodyOf(spec, op);
      const content = isPlainObject(rb) ? rb.content : undefined;
      if (
        isPlainObject(content) &&
        Object.keys(content).length > 0 &&
        !Object.keys(content).some(isJsonMediaType)
      )
        continue;
      names.push(openApiToolName(m, path, op));
    }
  }
  return names;
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
      url: httpUrl(mode),
      type: v.optional(v.picklist(['mcp', 'openapi']), 'mcp'),
      transport: v.optional(v.literal('streamable_http'), 'streamable_http'),
      auth_type: v.optional(v.picklist(['none', 'bearer', 'api_key', 'oauth2']), 'none'),
      secret: v.optional(v.string()),
      client_id: v.optional(nonEmpty),
      token_url: v.optional(httpUrl(mode)),
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
      (s) => s.type !== 'openapi' || (s.spec !== undefined && openApiToolNames(s.spec).length > 0),
      'mcp server of type openapi requires an OpenAPI 3.x spec that yields at least one tool',
    ),
    // Write-time only (agents-and-jobs §2.9): a stored document with colliding names still
    // loads, its later tools suffixed `_2`, `_3`.
    rule((s) => {
      if (mode !== 'strict' || s.type !== 'openapi' || s.spec === undefined) return true;
      const names = openApiToolNames(s.spec);
      return new Set(names).size === names.length;
    }, 'mcp server of type openapi: two operations of the spec give the same tool name (set distinct operationIds)'),
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
