/**
 * `GET /v1/realtime?model=<alias>` (agents-and-jobs §7): every check of §7.1 runs before the 101
 * and refuses with a plain HTTP answer in the OpenAI envelope (handshake, auth, model, ACL,
 * direct model, client IP, provider key and adapter, quota); only then is the client upgraded
 * and the session (`session.ts`) connects upstream.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { resolveModel } from '@aisix/core';
import type { WebSocket } from 'ws';
import { errors } from '../errors.js';
import { sendError } from '../http/respond.js';
import { clientIp, ipAllowed, modelAllowed } from '../pipeline/access.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { RequestContext } from '../pipeline/context.js';
import { openScope } from '../pipeline/scopes.js';
import { apiKeyView, modelKind, modelView, providerKeyView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { resolveDeadlines } from '../upstream/deadlines.js';
import { frameGuard } from './guard.js';
import { handshakeError, modelParam, realtimeToken } from './handshake.js';
import { acceptingIds } from './hub.js';
import { Session, type SessionTarget } from './session.js';
import { pendingUpgrade } from './upgrade.js';

export async function runRealtime(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  const upgrade = pendingUpgrade(ctx.req);
  const bad = handshakeError(ctx.req, upgrade !== undefined);
  if (bad !== undefined || upgrade === undefined) return sendError(ctx, rt.ident, bad ?? errors.internal());
  const key = await authenticateCaller(rt, ctx, realtimeToken(ctx.req.headers));
  if (!key) return;
  const requested = modelParam(ctx.req.url);
  if (requested === undefined) return sendError(ctx, rt.ident, errors.missingModelParam());
  ctx.requestedModel = requested;
  const resolved = resolveModel(ctx.snapshot, requested);
  if (!resolved) return sendError(ctx, rt.ident, errors.modelNotFound(requested));
  const model = resolved.model;
  ctx.model = model;
  if (!modelAllowed(apiKeyView(key).allowed_models, requested))
    return sendError(ctx, rt.ident, errors.modelNotAllowed(requested));
  const view = modelView(model);
  // Step 6: routing groups, ensembles and semantic models cannot hold a session.
  const kind = modelKind(view);
  if (kind !== 'direct') return sendError(ctx, rt.ident, errors.realtimeNeedsDirectModel(requested, kind));
  const cidrs = view.allowed_cidrs;
  if (cidrs && cidrs.length > 0 && !ipAllowed(cidrs, clientIp(ctx.req, rt.realIp)))
    return sendError(ctx, rt.ident, errors.ipRestricted());
  ctx.provider = view.provider ?? 'unknown';
  const pkId = view.provider_key_id ?? '';
  const pk = ctx.snapshot.byId('provider_keys').get(pkId);
  if (!pk) return sendError(ctx, rt.ident, errors.unknownProviderKey(view.display_name, pkId));
  const upstreamModel = (resolved.upstreamModel ?? view.model_name ?? '').trim();
  if (upstreamModel === '')
    return sendError(
      ctx,
      rt.ident,
      errors.realtimeConfig('invalid upstream configuration: model has no upstream model id'),
    );
  ctx.upstreamModel = upstreamModel;
  const pkv = providerKeyView(pk);
  const adapter = rt.registry.resolve(pkv);
  if (adapter?.prepareRealtime === undefined)
    return sendError(ctx, rt.ident, errors.realtimeUnsupported(requested));
  const prepared = adapter.prepareRealtime({
    providerKey: pkv,
    upstreamModel,
    templateVars: {
      'request.id': ctx.id,
      'request.api_key.id': key.id,
      'model.id': model.id,
      'model.name': view.display_name,
      'provider_key.id': pk.id,
      'provider_key.name': pkv.display_name,
    },
    userAgent: rt.userAgent,
  });
  if (!prepared.ok) return sendError(ctx, rt.ident, errors.realtimeConfig(prepared.error.message));
  if (!(await admitQuota(rt, ctx, upstreamModel))) return;
  const deadlines = resolveDeadlines(view, undefined, rt.settings);
  const target: SessionTarget = {
    model,
    provider: ctx.provider,
    upstreamModel,
    providerKeyName: pkv.display_name ?? undefined,
    request: prepared.request,
    tls: rt.upstreams.tlsForKey(ctx.snapshot, pk.id),
    idleMs: deadlines.streamMs,
    connectMs: deadlines.streamMs > 0 ? deadlines.streamMs : rt.settings.connectTimeoutMs,
    guard: frameGuard(rt, ctx),
  };
  accept(rt, ctx, upgrade.socket, upgrade.head, target);
}

/**
 * Step 10: the rate-limit interceptor's request gate (key, model, policies); its scope holds the
 * reservation all session and commits the session's tokens when the context settles. The other
 * interceptors (guardrails, cache) act on request bodies and do not apply to a session.
 */
async function admitQuota(rt: GatewayRuntime, ctx: RequestContext, upstreamModel: string): Promise<boolean> {
  const route = ctx.route;
  if (route === undefined) return true;
  for (const a of rt.lifecycle.active(ctx.snapshot)) {
    if (a.interceptor.name !== 'rate-limits') continue;
    let b = a.interceptor.begin(a.plan, { ctx, route, body: {}, upstreamModel });
    if (b instanceof Promise) b = await b;
    if (b === undefined) continue;
    if (b.scope && !openScope(rt.logger, ctx, b.scope)) return false;
    if (b.refuse) {
      sendError(ctx, rt.ident, b.refuse);
      return false;
    }
  }
  return true;
}

function accept(
  rt: GatewayRuntime,
  ctx: RequestContext,
  socket: Duplex,
  head: Buffer,
  target: SessionTarget,
): void {
  const res = ctx.res;
  // From here the socket speaks WebSocket: the HTTP response object lets go of it, and the
  // session settles the request context itself.
  res.detachSocket(socket as Socket);
  acceptingIds.set(ctx.req, ctx.id);
  let client: WebSocket | undefined;
  rt.realtime.wss.handleUpgrade(ctx.req, socket, head, (ws) => {
    client = ws;
  });
  if (client === undefined) {
    // The client went away while the checks ran (ws destroys the socket).
    ctx.errorType = 'client_disconnected';
    ctx.errorMessage = 'client closed the connection';
    ctx.sessionStatus = 499;
    res.emit('close');
    return;
  }
  new Session(rt, ctx, client, target, rt.realtime.sessions).start();
}
