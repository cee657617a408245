/**
 * `type: openapi` servers (agents-and-jobs §2.9): tools generated from the stored OpenAPI 3.x
 * document (never fetched at runtime), calls executed as plain HTTP against `url`. Generation
 * degrades instead of failing (unresolvable refs become `{}`); generated tools are cached per
 * server object, i.e. per snapshot.
 */

import { isJsonMediaType, OPENAPI_TOOL_METHODS, openApiToolName } from '@aisix/core';
import type { Net } from '../upstream/net.js';
import { scrubSentCredentials } from '../upstream/scrub.js';
import type { McpServerView } from './compile.js';
import { oauthTokens } from './oauth.js';
import { type CallResult, headerValue, type ToolInfo, timeoutOf } from './upstream.js';

type Json = Record<string, unknown>;

interface OpTool extends ToolInfo {
  readonly method: string;
  readonly path: string;
  readonly pathParams: readonly string[];
  readonly queryParams: readonly string[];
  readonly hasBody: boolean;
}

const MAX_DEPTH = 16;
const MAX_EXPANSIONS = 256;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function pointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let cur: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const k = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(cur) && !Array.isArray(cur)) return undefined;
    cur = (cur as Json)[k];
  }
  return cur;
}

/** Inlines local `$ref`s; keys beside a `$ref` overlay its target. */
function inline(doc: Json, node: unknown, depth: number, budget: { n: number }): unknown {
  if (depth >= MAX_DEPTH) return {};
  if (Array.isArray(node)) return node.map((x) => inline(doc, x, depth + 1, budget));
  if (!isObject(node)) return node;
  let base: Json = {};
  let rest = node;
  if (typeof node.$ref === 'string') {
    if (++budget.n > MAX_EXPANSIONS) return {};
    const target = pointer(doc, node.$ref);
    if (!isObject(target)) return {};
    const resolved = inline(doc, target, depth + 1, budget);
    base = isObject(resolved) ? resolved : {};
    const { $ref: _r, ...others } = node;
    rest = others;
  }
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(rest)) out[k] = inline(doc, v, depth + 1, budget);
  return out;
}

const toolsCache = new WeakMap<McpServerView, OpTool[]>();

export function openApiTools(s: McpServerView): OpTool[] {
  const hit = toolsCache.get(s);
  if (hit !== undefined) return hit;
  const doc = s.spec;
  if (!isObject(doc) || !isObject(doc.paths)) throw new Error('openapi document has no paths object');
  const paths = doc.paths;
  const out: OpTool[] = [];
  const used = new Set<string>();
  for (const path of Object.keys(paths).sort()) {
    const item = paths[path];
    if (!isObject(item)) continue;
    for (const method of OPENAPI_TOOL_METHODS) {
      const op = item[method];
      if (!isObject(op)) continue;
      const t = generate(doc, path, method, item, op);
      if (t === undefined) continue;
      let name = t.name;
      for (let i = 2; used.has(name); i++) name = `${t.name.slice(0, 128 - String(i).length - 1)}_${i}`;
      used.add(name);
      out.push({ ...t, name });
    }
  }
  toolsCache.set(s, out);
  return out;
}

function generate(doc: Json, path: string, method: string, item: Json, op: Json): OpTool | undefined {
  const budget = { n: 0 };
  const params = new Map<string, Json>();
  for (const list of [item.parameters, op.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const raw of list) {
      let p: unknown = raw;
      if (isObject(p) && typeof p.$ref === 'string') {
        const m = /^#\/components\/parameters\/(.+)$/.exec(p.$ref);
        p = m ? pointer(doc, p.$ref) : undefined;
      }
      if (!isObject(p) || typeof p.name !== 'string' || typeof p.in !== 'string') continue;
      params.set(`${p.in}\u0000${p.name}`, p);
    }
  }
  const properties: Json = {};
  const required: string[] = [];
  const pathParams: string[] = [];
  const queryParams: string[] = [];
  for (const p of params.values()) {
    if (p.in !== 'path' && p.in !== 'query') continue;
    const name = p.name as string;
    const schema = inline(doc, p.schema, 0, budget);
    const prop: Json =
      isObject(schema) && Object.keys(schema).length > 0 ? { ...schema } : { type: 'string' };
    if (typeof p.description === 'string') prop.description = p.description;
    properties[name] = prop;
    if (p.required === true) required.push(name);
    (p.in === 'path' ? pathParams : queryParams).push(name);
  }
  let hasBody = false;
  const rb = inline(doc, op.requestBody, 0, budget);
  if (isObject(rb) && isObject(rb.content) && Object.keys(rb.content).length > 0) {
    const entry = Object.entries(rb.content).find(([mt]) => isJsonMediaType(mt));
    if (entry === undefined) return undefined;
    const media = entry[1];
    const schema = isObject(media) ? media.schema : undefined;
    const prop: Json =
      isObject(schema) && Object.keys(schema).length > 0 ? { ...schema } : { type: 'object' };
    if (typeof rb.description === 'string') prop.description = rb.description;
    properties.body = prop;
    if (rb.required === true) required.push('body');
    hasBody = true;
  }
  const description =
    typeof op.summary === 'string'
      ? op.summary
      : typeof op.description === 'string'
        ? op.description
        : `${method.toUpperCase()} ${path}`;
  return {
    name: openApiToolName(method, path, op),
    description,
    inputSchema: { type: 'object', properties, required },
    method: method.toUpperCase(),
    path,
    pathParams,
    queryParams,
    hasBody,
  };
}

const textResult = (text: string, isError: boolean): CallResult => ({
  content: [{ type: 'text', text }],
  isError,
});

function scalar(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export async function callOpenApi(
  s: McpServerView,
  name: string,
  args: Record<string, unknown> | undefined,
  net: Net,
): Promise<CallResult> {
  const tool = openApiTools(s).find((t) => t.name === name);
  if (tool === undefined) throw new Error(`unknown openapi tool '${name}'`);
  const a = args ?? {};
  let path = tool.path;
  for (const p of tool.pathParams) {
    const v = a[p];
    if (v === undefined || v === null || v === '')
      return textResult(`missing required path parameter '${p}'`, true);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      return textResult(`path parameter '${p}' must be a scalar`, true);
    const str = String(v);
    if (str.includes('/') || str.includes('\\') || str === '.' || str === '..')
      return textResult(`invalid path parameter '${p}'`, true);
    path = path.replaceAll(
      `{${p}}`,
      encodeURIComponent(str).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    );
  }
  const url = new URL(s.url.replace(/\/+$/, '') + path);
  for (const q of tool.queryParams) {
    const v = a[q];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const item of v) url.searchParams.append(q, scalar(item));
    else url.searchParams.append(q, scalar(v));
  }
  const headers: Record<string, string> = { accept: 'application/json' };
  let body: string | undefined;
  if (tool.hasBody && a.body !== undefined && a.body !== null) {
    let b: unknown = a.body;
    if (typeof b === 'string') {
      try {
        b = JSON.parse(b);
      } catch {
        b = { data: b };
      }
    } else if (typeof b !== 'object') b = { data: b };
    body = JSON.stringify(b);
    headers['content-type'] = 'application/json';
  }
  const timeoutMs = timeoutOf(s);
  const secret = s.secret ?? '';
  const oauth =
    s.auth_type === 'oauth2' && s.client_id !== undefined && s.token_url !== undefined
      ? { tokenUrl: s.token_url, clientId: s.client_id, secret, scopes: s.scopes ?? [] }
      : undefined;
  if (s.auth_type === 'bearer') headers.authorization = `Bearer ${headerValue(secret, 'the stored secret')}`;
  else if (s.auth_type === 'api_key')
    headers[s.api_key_header ?? 'x-api-key'] = headerValue(secret, 'the stored secret');
  else if (s.auth_type === 'oauth2') {
    if (oauth === undefined) throw new Error('oauth2 server is missing client_id or token_url');
    const token = await oauthTokens.token(oauth, timeoutMs, net);
    headers.authorization = `Bearer ${headerValue(token, 'the minted token')}`;
  }
  // `net` refuses redirects (a 3xx is a failure).
  const res = await net(url, {
    method: tool.method,
    headers,
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (res.status === 401 && oauth !== undefined) oauthTokens.drop(oauth);
  if (res.status >= 200 && res.status <= 299) return textResult(text, false);
  // The API may echo the credential it got (a 401 quoting the key): the caller never sees it.
  const sent = [secret, headers.authorization];
  return textResult(scrubSentCredentials(`HTTP ${res.status}: ${text}`, sent), true);
}
