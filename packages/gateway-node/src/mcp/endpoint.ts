/**
 * `/mcp`, `/mcp/` (aggregated) and `/mcp/:server` (scoped): the gateway as one MCP server
 * over Streamable HTTP, stateless, JSON responses (agents-and-jobs §2.1-2.7). The gateway's own
 * steps (caller auth, scoped lookup, body cap, `tools/call` quota and input guardrails) run
 * before the transport checks, in the order of §2.2. Every request reads the gateway compiled
 * for its snapshot. A `tools/call` is attributed to its server and tool (`ctx.mcp`) before the
 * quota, so every outcome, a 429 included, has its usage event (§2.7 step 7).
 */

import type { ConfigSnapshot, Resource } from '@aisix/core';
import { nestedTooDeep } from '@aisix/core';
import type { Admission, Bucket, Limits } from '@aisix/limits';
import { errors, GatewayError } from '../errors.js';
import type { CompiledGuardrail } from '../guardrails/compile.js';
import { readBody } from '../http/body.js';
import { decodePathSegment } from '../http/path.js';
import { baseHeaders, sendBody, sendError, sendTextError } from '../http/respond.js';
import { heldLimit } from '../jobs/guard.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { McpCall, RequestContext } from '../pipeline/context.js';
import { surfaceBuckets } from '../pipeline/surface-limits.js';
import type { GatewayRuntime } from '../runtime.js';
import { UpstreamTooLarge, upstreamNet } from '../upstream/net.js';
import { type KeyAccess, toolAcl } from './acl.js';
import { type McpGateway, type McpServerView, mcpGateway } from './compile.js';
import { guardArguments, guardResult } from './governance.js';
import { aggregatedList, aggregatedTarget, SEP, scopedList, scopedTarget } from './routing.js';
import { RpcError, upstreamFailed } from './rpc-error.js';
import { callServerTool } from './tools.js';
import { MalformedToolContent, sanitize } from './upstream.js';

export const LATEST_PROTOCOL = '2025-11-25';
const KNOWN_VERSIONS = new Set(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28']);

/** Media types are case-insensitive (RFC 9110 §8.3.1): the §2.2 checks ignore case. */
const ACCEPTS_JSON = /application\/json/i;
const ACCEPTS_SSE = /text\/event-stream/i;
const JSON_TYPE = /^application\/json/i;

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
  if (nestedTooDeep(doc)) return undefined;
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

/**
 * The quota buckets of a `tools/call` (§2.7 step 2): the key's inline limit, then its
 * per-server limit (`mcp_rate_limits[<server>]`, bucket `mcp:<key id>:<server>`), then the
 * policies that do not follow a model.
 */
function callBuckets(snapshot: ConfigSnapshot, key: Resource<'api_keys'>, server: string): Bucket[] {
  const v = key.value as Record<string, unknown>;
  const out = surfaceBuckets(snapshot, key, 'mcp');
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
    // Kept raw when it does not decode: it then names no server.
    const raw = ctx.path.slice(5);
    const name = decodePathSegment(raw) ?? raw;
    scoped = g.servers.get(name);
    if (scoped === undefined) return sendTextError(ctx, rt.ident, 404, `unknown MCP server: ${name}`);
  }
  let body: Buffer;
  try {
    body = await readBody(ctx.req, rt.settings.bodyLimit, rt.bodyIdleMs);
  } catch (e) {
    if (e instanceof GatewayError && e.status === 413) return sendError(ctx, rt.ident, e);
    return sendTextError(ctx, rt.ident, 400, 'invalid request body');
  }
  let msg = parseMessage(body);
  let admission: Admission | undefined;
  let chain: readonly CompiledGuardrail[] = [];
  try {
    if (msg?.kind === 'request' && msg.method === 'tools/call') {
      const call = attribute(msg.params.name, scoped);
      ctx.mcp = call;
      const buckets = callBuckets(ctx.snapshot, key, call.server);
      if (buckets.length > 0) {
        const r = await rt.limiter.acquire(buckets);
        if (!r.ok) {
          rt.metrics.governance.rateLimitRejected(r.reason, r.bucket.layer, r.bucket.policy?.id);
          return sendError(ctx, rt.ident, errors.rateLimited(r.reason, r.retryAfterSecs, r.bucket.policy));
        }
        admission = r.admission;
      }
      chain = rt.guardrails?.chain(ctx.snapshot, key) ?? [];
      if (rt.guardrails !== undefined && chain.length > 0) {
        try {
          const args = await guardArguments(rt.guardrails, ctx, chain, msg.params.arguments);
          if (args !== msg.params.arguments) msg = { ...msg, params: { ...msg.params, arguments: args } };
        } catch (e) {
          if (!(e instanceof RpcError)) throw e;
          ctx.errorMessage = e.message;
          return rpc(ctx, rt, 200, { id: msg.id, error: { code: e.code, message: e.message } });
        }
      }
    }
    await answer(rt, ctx, g, key.value as KeyAccess, scoped, msg, chain);
  } finally {
    // Held for the whole call (concurrency counts it); no tokens (§1.3).
    if (admission !== undefined) void admission.commit(0);
  }
}

/**
 * Server and tool of a `tools/call` for quota and usage (§2.7 step 1): aggregated, the name split
 * at the first `__` (no separator: both empty); scoped, the path server and the name without
 * that server's prefix.
 */
function attribute(name: unknown, scoped: McpServerView | undefined): McpCall {
  const n = typeof name === 'string' ? name : '';
  if (scoped !== undefined) {
    const own = `${scoped.name}${SEP}`;
    return { server: scoped.name, tool: n.startsWith(own) ? n.slice(own.length) : n, upstreamMs: undefined };
  }
  const i = n.indexOf(SEP);
  if (i === -1) return { server: '', tool: '', upstreamMs: undefined };
  return { server: n.slice(0, i), tool: n.slice(i + SEP.length), upstreamMs: undefined };
}

async function answer(
  rt: GatewayRuntime,
  ctx: RequestContext,
  g: McpGateway,
  key: KeyAccess,
  scoped: McpServerView | undefined,
  msg: Message | undefined,
  chain: readonly CompiledGuardrail[],
): Promise<void> {
  if (ctx.req.method !== 'POST')
    return sendTextError(ctx, rt.ident, 405, 'method not allowed: use POST', { allow: 'POST' });
  const accept = header(ctx, 'accept') ?? '';
  if (!ACCEPTS_JSON.test(accept) || !ACCEPTS_SSE.test(accept))
    return sendTextError(
      ctx,
      rt.ident,
      406,
      'Not Acceptable: the client must accept both application/json and text/event-stream',
    );
  if (!JSON_TYPE.test(header(ctx, 'content-type') ?? ''))
    return sendTextError(ctx, rt.ident, 415, 'Unsupported Media Type: Content-Type must be application/json');
  if (msg === undefined)
    return sendTextError(ctx, rt.ident, 415, 'Unsupported Media Type: the body must be one JSON-RPC message');
  const version = header(ctx, 'mcp-protocol-version');
  if (msg.kind === 'request' && msg.method === 'initialize') {
    if (version !== undefined && version !== msg.params.protocolVersion)
      return rpc(ctx, rt, 400, {
        id: msg.id,
        error: { code: -32600, message: 'MCP-Protocol-Version header does not match params.protocolVersion' },
      });
  } else if (version !== undefined && !KNOWN_VERSIONS.has(version)) {
    return sendTextError(ctx, rt.ident, 400, `Bad Request: unsupported MCP-Protocol-Version: ${version}`);
  }
  if (msg.kind !== 'request') {
    ctx.settled = true;
    ctx.res.writeHead(202, baseHeaders(ctx, rt.ident, { 'content-length': 0 }));
    ctx.res.end();
    return;
  }
  try {
    const result = await dispatch(rt, ctx, g, key, scoped, msg.method, msg.params, chain);
    rpc(ctx, rt, 200, { id: msg.id, result });
  } catch (e) {
    if (e instanceof UpstreamTooLarge) return sendTextError(ctx, rt.ident, 502, 'invalid upstream response');
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
  chain: readonly CompiledGuardrail[],
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
      return call(rt, ctx, target.server, target.tool, params.arguments, chain);
    }
    default:
      throw new RpcError(-32601, 'Method not found');
  }
}

async function call(
  rt: GatewayRuntime,
  ctx: RequestContext,
  server: McpServerView,
  tool: string,
  args: unknown,
  chain: readonly CompiledGuardrail[],
): Promise<unknown> {
  if (args !== undefined && args !== null && !isObject(args)) {
    rt.logger.warn(
      { request_id: ctx.id, server: server.name, tool },
      'MCP tools/call arguments are not an object',
    );
    throw upstreamFailed(server.name);
  }
  // The result is held whole: with output guardrails it is the buffered response of §2.7 step 6
  // (capped like a request body; a failed read is the 502 `answer` sends), else it is bounded
  // like any held body and an oversized one is an upstream failure.
  const guarded = rt.guardrails !== undefined && chain.some((c) => c.output);
  const t0 = performance.now();
  let result: Awaited<ReturnType<typeof callServerTool>>;
  try {
    result = await callServerTool(
      server,
      tool,
      isObject(args) ? args : undefined,
      upstreamNet(rt.upstreams.base),
      guarded && rt.settings.bodyLimit > 0 ? rt.settings.bodyLimit : heldLimit(rt),
    );
  } catch (e) {
    rt.logger.warn(
      { request_id: ctx.id, server: server.name, tool, err: sanitize(e) },
      'MCP upstream failed to call tool',
    );
    if (guarded && e instanceof UpstreamTooLarge) throw e;
    if (e instanceof MalformedToolContent)
      throw new RpcError(-32603, `malformed tool content from upstream: ${e.message}`);
    throw upstreamFailed(server.name);
  } finally {
    if (ctx.mcp !== undefined) ctx.mcp.upstreamMs = performance.now() - t0;
  }
  if (rt.guardrails === undefined || chain.length === 0) return result;
  return guardResult(rt.guardrails, ctx, chain, result);
}
