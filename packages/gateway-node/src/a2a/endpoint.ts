/**
 * `POST /a2a/:agent` and `GET /a2a/:agent/.well-known/agent-card.json` (agents-and-jobs §3):
 * the gateway authenticates, authorizes and meters the caller, then relays the JSON-RPC body
 * to the agent unchanged (no translation between A2A versions, no content inspection). Gate
 * order (§3.2): caller auth 401, agent lookup 404, `allowed_agents` 403, body 413 / 400,
 * JSON 400, quota 429, relay. Every request reads the agents compiled for its snapshot.
 */
import { globMatch, nestedTooDeep, type Resource } from '@aisix/core';
import type { Admission } from '@aisix/limits';
import { errors, GatewayError } from '../errors.js';
import { readBody } from '../http/body.js';
import { decodePathSegment } from '../http/path.js';
import { sendBody, sendError, sendTextError } from '../http/respond.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { RequestContext } from '../pipeline/context.js';
import { surfaceBuckets } from '../pipeline/surface-limits.js';
import type { GatewayRuntime } from '../runtime.js';
import { fetchCard, publicBase, rewriteCard } from './card.js';
import { type AgentView, a2aAgents } from './compile.js';
import { relayStream, relayUnary } from './relay.js';
import { A2aFailure, errorEnvelope, type RpcId } from './upstream.js';

/** Methods whose answer is an event stream, per pinned protocol version (§3.3). */
const STREAMING: Readonly<Record<AgentView['protocolVersion'], ReadonlySet<string>>> = {
  '0.3': new Set(['message/stream', 'tasks/resubscribe']),
  '1.0': new Set(['SendStreamingMessage', 'SubscribeToTask']),
};

/** `allowed_agents` (single-`*` globs; absent, null or empty: no agent). */
function agentAllowed(key: Resource<'api_keys'>, agent: string): boolean {
  const allowed = (key.value as { allowed_agents?: readonly string[] | null }).allowed_agents;
  if (!Array.isArray(allowed)) return false;
  for (const p of allowed) if (typeof p === 'string' && globMatch(p, agent)) return true;
  return false;
}

/** The agent name of `/a2a/<name>[/...]`, percent-decoded (kept raw when it does not decode). */
function agentName(path: string): string {
  const rest = path.slice('/a2a/'.length);
  const slash = rest.indexOf('/');
  const raw = slash === -1 ? rest : rest.slice(0, slash);
  return decodePathSegment(raw) ?? raw;
}

/** Auth, lookup and ACL, shared by calls and cards; answers and resolves undefined on refusal. */
async function admit(
  rt: GatewayRuntime,
  ctx: RequestContext,
): Promise<{ key: Resource<'api_keys'>; agent: AgentView } | undefined> {
  const key = await authenticateCaller(rt, ctx);
  if (!key) return undefined;
  // Telemetry labels of the A2A surface (§1.4).
  ctx.provider = 'a2a';
  ctx.requestedModel = 'a2a';
  const name = agentName(ctx.path);
  const agent = a2aAgents(ctx.snapshot, rt.logger).get(name);
  if (agent === undefined) {
    ctx.errorType = 'not_found';
    sendTextError(ctx, rt.ident, 404, `unknown A2A agent: ${name}`);
    return undefined;
  }
  if (!agentAllowed(key, name)) {
    ctx.errorType = 'permission_denied';
    sendTextError(ctx, rt.ident, 403, `this key may not reach A2A agent: ${name}`);
    return undefined;
  }
  return { key, agent };
}

function peek(doc: unknown): { method: string; id: RpcId } {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { method: '', id: null };
  const d = doc as Record<string, unknown>;
  const id = typeof d.id === 'string' || (typeof d.id === 'number' && Number.isFinite(d.id)) ? d.id : null;
  return { method: typeof d.method === 'string' ? d.method : '', id };
}

export async function runA2aCall(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  const admitted = await admit(rt, ctx);
  if (!admitted) return;
  const { key, agent } = admitted;
  let raw: Buffer;
  try {
    raw = await readBody(ctx.req, rt.settings.bodyLimit, rt.bodyIdleMs);
  } catch (e) {
    if (e instanceof GatewayError && e.status === 413) return sendError(ctx, rt.ident, e);
    ctx.errorType = 'invalid_request_error';
    return sendTextError(ctx, rt.ident, 400, 'invalid request body');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    ctx.errorType = 'invalid_request_error';
    return sendTextError(ctx, rt.ident, 400, 'invalid JSON-RPC body');
  }
  if (nestedTooDeep(doc)) {
    ctx.errorType = 'invalid_request_error';
    return sendTextError(ctx, rt.ident, 400, 'invalid JSON-RPC body');
  }
  const { method, id } = peek(doc);
  ctx.a2a = { agent: agent.name, method, faulted: false };
  let admission: Admission | undefined;
  const buckets = surfaceBuckets(ctx.snapshot, key, 'a2a');
  if (buckets.length > 0) {
    const r = await rt.limiter.acquire(buckets);
    if (!r.ok) {
      rt.metrics.governance.rateLimitRejected(r.reason, r.bucket.layer, r.bucket.policy?.id);
      return sendError(ctx, rt.ident, errors.rateLimited(r.reason, r.retryAfterSecs, r.bucket.policy));
    }
    admission = r.admission;
  }
  try {
    if (agent.url === undefined) {
      const message = `upstream A2A request failed: ${agent.unusable}`;
      ctx.errorType = 'upstream_error';
      ctx.errorMessage = message;
      return sendBody(ctx, rt.ident, 502, 'application/json', errorEnvelope(id, message));
    }
    const call = { rt, ctx, agent, url: agent.url, body: JSON.stringify(doc), id };
    ctx.stream = STREAMING[agent.protocolVersion].has(method);
    await (ctx.stream ? relayStream(call) : relayUnary(call));
  } finally {
    // Held for the whole call or stream (concurrency counts it); no tokens (§1.3).
    if (admission !== undefined) void admission.commit(0);
  }
}

export async function runA2aCard(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  const admitted = await admit(rt, ctx);
  if (!admitted) return;
  const { agent } = admitted;
  const base = publicBase(rt, ctx);
  if ('error' in base) return sendTextError(ctx, rt.ident, base.status, base.error);
  if (agent.url === undefined)
    return sendTextError(ctx, rt.ident, 502, `agent card unavailable: ${agent.unusable}`);
  try {
    const card = await fetchCard(rt, agent, agent.url);
    const publicUrl = `${base.base}/a2a/${encodeURIComponent(agent.name)}`;
    sendBody(ctx, rt.ident, 200, 'application/json', JSON.stringify(rewriteCard(card, publicUrl)));
  } catch (e) {
    if (!(e instanceof A2aFailure)) throw e;
    rt.logger.warn(
      { request_id: ctx.id, agent: agent.name, err: e.detail ?? e.message },
      'A2A agent card fetch failed',
    );
    ctx.errorType = 'upstream_error';
    sendTextError(ctx, rt.ident, 502, e.message);
  }
}
