/**
 * `/mcp`, `/mcp/` (aggregated) and `/mcp/:server` (scoped): the gateway as one MCP server
 * over Streamable HTTP, stateless, JSON responses (agents-and-jobs §2.1-2.7). The gateway's own
 * steps (caller auth, scoped lookup, body cap, `tools/call` quota) run before the transport
 * checks, in the order of §2.2. Every request reads the gateway compiled for its snapshot.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { ConfigSnapshot, Resource } from '@aisix/core';
import type { Admission, Bucket, Limits, ModelFacts } from '@aisix/limits';
import { errors, GatewayError } from '../errors.js';
import { readBody } from '../http/body.js';
import { baseHeaders, sendBody, sendError } from '../http/respond.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { RequestContext } from '../pipeline/context.js';
import { limitPlan } from '../pipeline/limit-plan.js';
import type { GatewayRuntime } from '../runtime.js';
import { type KeyAccess, type ToolAcl, toolAcl } from './acl.js';
import { type McpGateway, type McpServerView, mcpGateway } from './compile.js';
import { callServerTool, listServerTools } from './tools.js';
import { sanitize } from './upstream.js';

export const LATEST_PROTOCOL = '2025-11-25';
const KNOWN_VERSIONS = new Set(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28']);
const SEP = '__';

type Id = string | number;

/** One JSON-RPC message, classified; undefined = not exactly one message (§2.2: 415). */
type Message =
  | {
      readonly kind: 'request';
      readonly id: Id;
      readonly method: string;
      readonly params: Record<string, unknown>;
    }
  | { readonly kind: 'other' };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseMessage(body: Buffer): Message | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isObject(doc) || doc.jsonrpc !== '2.0') return undefined;
  const id = doc.id;
  const hasId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));
  if (typeof doc.method === 'string') {
    if (doc.params !== undefined && !isObject(doc.params)) return undefined;
    if (!('id' in doc)) return { kind: 'other' };
    if (!hasId) return undefined;
    return {
      kind: 'request',
      id: id as Id,
      method: doc.method,
      params: (doc.params ?? {}) as Record<string, unknown>,
    };
  }
  // A response or error sent by the client: accepted and ignored.
  if (('result' in doc || 'error' in doc) && (hasId || id === null)) return { kind: 'other' };
  return undefined;
}

class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const notAvailable = (n: string) => new RpcError(-32602, `tool '${n}' is not available`);
const upstreamFailed = (s: string) => new RpcError(-32603, `upstream MCP server '${s}' failed to call tool`);

function text(
  ctx: RequestContext,
  rt: GatewayRuntime,
  status: number,
  body: string,
  extra?: OutgoingHttpHeaders,
) {
  ctx.errorMessage = body;
  sendBody(ctx, rt.ident, status, 'text/plain; charset=utf-8', body, extra);
}

function rpc(
  ctx: RequestContext,
  rt: GatewayRuntime,
  status: number,
  payload: Record<string, unknown>,
): void {
  sendBody(ctx, rt.ident, status, 'application/json', JSON.stringify({ jsonrpc: '2.0', ...payload }));
}

function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** No model dimension (§1.3): `group` keeps model-following policies out of the request gate. */
const NO_MODEL: ModelFacts = { id: '', alias: 'mcp', group: true };

/**
 * The quota buckets of a `tools/call` (§2.7 step 2): the key's inline limit, then its
 * per-server limit (`mcp_rate_limits[<server>]`, bucket `mcp:<key id>:<server>`), then the
 * policies that do not follow a model.
 */
function callBuckets(snapshot: ConfigSnapshot, key: Resource<'api_keys'>, server: string): Bucket[] {
  const v = key.value as Record<string, unknown>;
  const plan = limitPlan(snapshot);
  const out =
    plan?.requestBuckets({
      apiKeyId: key.id,
      team: typeof v.team_id === 'string' ? v.team_id : undefined,
      member: typeof v.user_id === 'string' ? v.user_id : undefined,
      requestedName: 'mcp',
      model: NO_MODEL,
    }) ?? [];
  const per = v.mcp_rate_limits;
  if (server !== '' && isObject(per) && Object.hasOwn(per, server)) {
    const l = cleanLimits(per[server]);
    if (l !== undefined) {
      const at = out.length > 0 && (out[0] as Bucket).layer === 'api_key' ? 1 : 0;
      out.splice(at, 0, { key: `mcp:${key.id}:${server}`, limits: l, layer: 'mcp' });
    }
  }
  return out;
}

const DIMS = ['rps', 'rpm', 'rph', 'rpd', 'tpm', 'tpd', 'concurrency'] as const;

function cleanLimits(raw: unknown): Limits | undefined {
  if (!isObject(raw)) return undefined;
  const out: { -readonly [D in (typeof DIMS)[number]]?: number } = {};
  let any = false;
  for (const d of DIMS) {
    const v = raw[d];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
      out[d] = v;
      any = true;
    }
  }
  return any ? out : undefined;
}

export async function runMcp(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  const key = await authenticateCaller(rt, ctx);
  if (!key) return;
  // Telemetry labels of the MCP surface (§1.4): provider and model `mcp`.
  ctx.provider = 'mcp';
  ctx.requestedModel = 'mcp';
  const g = mcpGateway(ctx.snapshot, rt.logger);
  let scoped: McpServerView | undefined;
  if (ctx.path.length > 5 && ctx.path.startsWith('/mcp/')) {
    let name = ctx.path.slice(5);
    try {
      name = decodeURIComponent(name);
    } catch {
      // Kept raw: it then names no server.
    }
    scoped = g.servers.get(name);
    if (scoped === undefined) return text(ctx, rt, 404, `unknown MCP server: ${name}`);
  }
  let body: Buffer;
  try {
    body = await readBody(ctx.req, rt.settings.bodyLimit, rt.bodyIdleMs);
  } catch (e) {
    if (e instanceof GatewayError && e.status === 413) return sendError(ctx, rt.ident, e);
    return text(ctx, rt, 400, 'invalid request body');
  }
  const msg = parseMessage(body);
  let admission: Admission | undefined;
  if (msg?.kind === 'request' && msg.method === 'tools/call') {
    const name = typeof msg.params.name === 'string' ? msg.params.name : '';
    const server =
      scoped !== undefined ? scoped.name : name.includes(SEP) ? name.slice(0, name.indexOf(SEP)) : '';
    const buckets = callBuckets(ctx.snapshot, key, server);
    if (buckets.length > 0) {
      const r = await rt.limiter.acquire(buckets);
      if (!r.ok) {
        rt.metrics.governance.rateLimitRejected(r.reason, r.bucket.layer, r.bucket.policy?.id);
        return sendError(ctx, rt.ident, errors.rateLimited(r.reason, r.retryAfterSecs, r.bucket.policy));
      }
      admission = r.admission;
    }
  }
  try {
    await answer(rt, ctx, g, key.value as KeyAccess, scoped, msg);
  } finally {
    // Held for the whole call (concurrency counts it); no tokens (§1.3).
    if (admission !== undefined) void admission.commit(0);
  }
}

async function answer(
  rt: GatewayRuntime,
  ctx: RequestContext,
  g: McpGateway,
  key: KeyAccess,
  scoped: McpServerView | undefined,
  msg: Message | undefined,
): Promise<void> {
  if (ctx.req.method !== 'POST') return text(ctx, rt, 405, 'method not allowed: use POST', { allow: 'POST' });
  const accept = header(ctx, 'accept') ?? '';
  if (!accept.includes('application/json') || !accept.includes('text/event-stream'))
    return text(
      ctx,
      rt,
      406,
      'Not Acceptable: the client must accept both application/json and text/event-stream',
    );
  if (!(header(ctx, 'content-type') ?? '').startsWith('application/json'))
    return text(ctx, rt, 415, 'Unsupported Media Type: Content-Type must be application/json');
  if (msg === undefined)
    return text(ctx, rt, 415, 'Unsupported Media Type: the body must be one JSON-RPC message');
  const version = header(ctx, 'mcp-protocol-version');
  if (msg.kind === 'request' && msg.method === 'initialize') {
    if (version !== undefined && version !== msg.params.protocolVersion)
      return rpc(ctx, rt, 400, {
        id: msg.id,
        error: { code: -32600, message: 'MCP-Protocol-Version header does not match params.protocolVersion' },
      });
  } else if (version !== undefined && !KNOWN_VERSIONS.has(version)) {
    return text(ctx, rt, 400, `Bad Request: unsupported MCP-Protocol-Version: ${version}`);
  }
  if (msg.kind !== 'request') {
    ctx.settled = true;
    ctx.res.writeHead(202, baseHeaders(ctx, rt.ident, { 'content-length': 0 }));
    ctx.res.end();
    return;
  }
  try {
    const result = await dispatch(rt, ctx, g, key, scoped, msg.method, msg.params);
    rpc(ctx, rt, 200, { id: msg.id, result });
  } catch (e) {
    if (!(e instanceof RpcError)) throw e;
    ctx.errorMessage = e.message;
    rpc(ctx, rt, 200, { id: msg.id, error: { code: e.code, message: e.message } });
  }
}

async function dispatch(
  rt: GatewayRuntime,
  ctx: RequestContext,
  g: McpGateway,
  key: KeyAccess,
  scoped: McpServerView | undefined,
  method: string,
  params: Record<string, unknown>,
): Promise<unknown> {
  switch (method) {
    case 'initialize':
      return {
        protocolVersion: LATEST_PROTOCOL,
        capabilities: { tools: {} },
        serverInfo:
          scoped !== undefined
            ? { name: scoped.name, version: rt.ident.server.slice(6) }
            : { name: 'aisix-mcp-gateway', version: rt.ident.server.slice(6) },
        instructions:
          scoped !== undefined
            ? `Tools of the MCP server '${scoped.name}' under their own names.`
            : `Tools of every MCP server behind this gateway, named <server>__<tool>.`,
      };
    case 'ping':
      return {};
    case 'prompts/list':
      return { prompts: [] };
    case 'resources/list':
      return { resources: [] };
    case 'resources/templates/list':
      return { resourceTemplates: [] };
    case 'completion/complete':
      return { completion: { values: [] } };
    case 'tools/list': {
      const acl = toolAcl(key, g.policies);
      return { tools: scoped ? await scopedList(rt, g, acl, scoped) : await aggregatedList(rt, g, acl) };
    }
    case 'tools/call': {
      const acl = toolAcl(key, g.policies);
      const name = params.name;
      if (typeof name !== 'string') throw new RpcError(-32602, 'tools/call requires a string params.name');
      const target = scoped ? scopedTarget(g, scoped, name, acl) : aggregatedTarget(g, name, acl);
      return call(rt, ctx, target.server, target.tool, params.arguments);
    }
    default:
      throw new RpcError(-32601, 'Method not found');
  }
}

async function listOrSkip(rt: GatewayRuntime, s: McpServerView) {
  try {
    return await listServerTools(s);
  } catch (e) {
    rt.logger.warn(
      { server: s.name, err: sanitize(e) },
      'MCP server failed to list tools; its tools are skipped',
    );
    return [];
  }
}

async function aggregatedList(rt: GatewayRuntime, g: McpGateway, acl: ToolAcl) {
  const servers = [...g.servers.values()];
  const lists = await Promise.all(servers.map((s) => listOrSkip(rt, s)));
  const out = [];
  for (let i = 0; i < servers.length; i++) {
    const prefix = `${(servers[i] as McpServerView).name}${SEP}`;
    for (const t of lists[i] ?? []) {
      const name = prefix + t.name;
      if (acl(name)) out.push({ ...t, name });
    }
  }
  return out;
}

/** A bare name the scoped call side would not route back to this tool (§2.5). */
function needsPrefix(g: McpGateway, bare: string): boolean {
  const i = bare.indexOf(SEP);
  return i !== -1 && g.registered.has(bare.slice(0, i));
}

async function scopedList(rt: GatewayRuntime, g: McpGateway, acl: ToolAcl, s: McpServerView) {
  const out = [];
  for (const t of await listOrSkip(rt, s)) {
    const full = `${s.name}${SEP}${t.name}`;
    if (acl(full)) out.push({ ...t, name: needsPrefix(g, t.name) ? full : t.name });
  }
  return out;
}

interface Target {
  readonly server: McpServerView;
  readonly tool: string;
}

function aggregatedTarget(g: McpGateway, name: string, acl: ToolAcl): Target {
  const i = name.indexOf(SEP);
  if (i === -1) throw new RpcError(-32602, `tool name '${name}' is missing a 'server__tool' prefix`);
  if (!acl(name)) throw notAvailable(name);
  const serverName = name.slice(0, i);
  const server = g.servers.get(serverName);
  if (server === undefined) throw new RpcError(-32602, `unknown MCP server '${serverName}'`);
  return { server, tool: name.slice(i + SEP.length) };
}

function scopedTarget(g: McpGateway, s: McpServerView, name: string, acl: ToolAcl): Target {
  let bare = name;
  const own = `${s.name}${SEP}`;
  if (name.startsWith(own)) bare = name.slice(own.length);
  else if (needsPrefix(g, name)) throw notAvailable(name);
  if (!acl(own + bare)) throw notAvailable(name);
  return { server: s, tool: bare };
}

async function call(
  rt: GatewayRuntime,
  ctx: RequestContext,
  server: McpServerView,
  tool: string,
  args: unknown,
): Promise<unknown> {
  if (args !== undefined && args !== null && !isObject(args)) {
    rt.logger.warn(
      { request_id: ctx.id, server: server.name, tool },
      'MCP tools/call arguments are not an object',
    );
    throw upstreamFailed(server.name);
  }
  try {
    return await callServerTool(server, tool, isObject(args) ? args : undefined);
  } catch (e) {
    rt.logger.warn(
      { request_id: ctx.id, server: server.name, tool, err: sanitize(e) },
      'MCP upstream failed to call tool',
    );
    throw upstreamFailed(server.name);
  }
}
