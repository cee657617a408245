/**
 * `GET /v1/videos/:id` (poll) and `GET /v1/videos/:id/content` (the finished video). Both decode
 * the id, re-check access against what it names, take the key and policy quota layers (the
 * model layer is exempt, so polling never starves on the RPM the submit used) and GET the
 * provider task. Content then answers by status: not ready or failed → 400; a redirect vendor →
 * 302 to the provider's URL (never fetched by the gateway); a proxy vendor → the bytes relayed
 * (`content.ts`), the asset OpenAI's `?variant=` names forwarded (redirect vendors only have the
 * video). Neither route emits usage events.
 */
import { resolveModel } from '@aisix/core';
import { type VideoState, type VideoVendor, videoVendor } from '@aisix/providers';
import { errors, GatewayError } from '../errors.js';
import { drainBody } from '../http/body.js';
import { baseHeaders, sendError, sendSuccessJson } from '../http/respond.js';
import { clientIp, ipAllowed, modelAllowed } from '../pipeline/access.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { RequestContext } from '../pipeline/context.js';
import { limitPlan } from '../pipeline/limit-plan.js';
import { apiKeyView, modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';
import { callJson, withRetries } from './call.js';
import { relayContent, type VideoAsset } from './content.js';
import { decodeVideoId, safeUpstreamId } from './id.js';
import { GENERIC_FAILURE, malformedId, type VideoObject, videoNotFound } from './object.js';
import { type VideoTarget, videoTarget } from './target.js';

const PREFIX = '/v1/videos/';
const CONTENT = '/content';

/** Key and policy layers only; held for the call, committed with no tokens. */
async function pollQuota(rt: GatewayRuntime, ctx: RequestContext, t: VideoTarget) {
  const key = ctx.apiKey;
  const plan = limitPlan(ctx.snapshot);
  if (key === undefined || plan === undefined) return undefined;
  const kv = apiKeyView(key);
  const buckets = plan.requestBuckets({
    apiKeyId: key.id,
    team: kv.team_id,
    member: kv.user_id,
    requestedName: ctx.requestedModel ?? t.view.display_name,
    // `group` keeps model-following policies out; no `limits`: no model layer.
    model: { id: t.model.id, alias: t.view.display_name, group: true },
  });
  if (buckets.length === 0) return undefined;
  const r = await rt.limiter.acquire(buckets);
  if (!r.ok) {
    rt.metrics.governance.rateLimitRejected(r.reason, r.bucket.layer, r.bucket.policy?.id);
    return errors.rateLimited(r.reason, r.retryAfterSecs, r.bucket.policy);
  }
  return r.admission;
}

export async function runVideoTask(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  if (rt.tracer !== undefined) ctx.trace = rt.tracer.startRequest(ctx);
  drainBody(ctx.req);
  const key = await authenticateCaller(rt, ctx);
  if (!key) return;
  ctx.usageEvents = false;
  const rest = ctx.path.slice(PREFIX.length);
  const content = rest.endsWith(CONTENT);
  const id = content ? rest.slice(0, -CONTENT.length) : rest;
  const ref = decodeVideoId(id);
  const model = ref === undefined ? undefined : ctx.snapshot.byId('models').get(ref.modelId);
  if (ref === undefined || model === undefined) return sendError(ctx, rt.ident, videoNotFound(id));
  const view = modelView(model);
  const vendor = videoVendor(view.provider);
  // The name the id carries must still name this Model: otherwise a crafted id could pair any
  // video Model with a name the key is allowed and pass the ACL check below.
  const resolved = resolveModel(ctx.snapshot, ref.requestedName);
  // ACL and provider folded into the 404: a crafted id cannot probe the Model table.
  if (
    vendor === undefined ||
    resolved?.model.id !== model.id ||
    !modelAllowed(apiKeyView(key).allowed_models, ref.requestedName)
  )
    return sendError(ctx, rt.ident, videoNotFound(id));
  ctx.requestedModel = ref.requestedName;
  ctx.model = model;
  const cidrs = view.allowed_cidrs;
  if (cidrs && cidrs.length > 0 && !ipAllowed(cidrs, clientIp(ctx.req, rt.realIp)))
    return sendError(ctx, rt.ident, errors.ipRestricted());
  const asset = content ? assetOf(ctx, vendor) : undefined;
  if (asset instanceof GatewayError) return sendError(ctx, rt.ident, asset);
  const upstreamModel = resolved.upstreamModel ?? view.model_name ?? '';
  const t = videoTarget(rt, ctx, model, view, vendor, upstreamModel);
  if (t instanceof GatewayError) return sendError(ctx, rt.ident, t);
  const admission = await pollQuota(rt, ctx, t);
  if (admission instanceof GatewayError) return sendError(ctx, rt.ident, admission);
  try {
    if (!safeUpstreamId(ref.taskId)) return sendError(ctx, rt.ident, malformedId(ref.taskId));
    const r = await withRetries(rt, ctx, t, true, () =>
      callJson(rt, ctx, t, 'GET', t.urls.poll(ref.taskId), undefined, (doc) => vendor.parsePoll(doc)),
    );
    if (r === undefined) return;
    if (!r.ok) return sendError(ctx, rt.ident, r.error);
    if (asset === undefined) return answerPoll(rt, ctx, id, t, r.value);
    await answerContent(rt, ctx, t, ref.taskId, r.value, asset);
  } finally {
    if (admission !== undefined) void admission.commit(0);
  }
}

/** The assets of OpenAI's `GET /videos/{id}/content?variant=`, and how each is labelled. */
const VIDEO: VideoAsset = { variant: 'video', filename: 'video.mp4', contentType: 'video/mp4' };
const ASSETS: ReadonlyMap<string, VideoAsset> = new Map([
  ['video', VIDEO],
  ['thumbnail', { variant: 'thumbnail', filename: 'thumbnail.webp', contentType: 'image/webp' }],
  ['spritesheet', { variant: 'spritesheet', filename: 'spritesheet.jpg', contentType: 'image/jpeg' }],
]);

/**
 * The asset a content request asks for (`?variant=`, default the video). Redirect vendors only
 * have the video: another asset is a 400, never the video answered in its place.
 */
function assetOf(ctx: RequestContext, vendor: VideoVendor): VideoAsset | GatewayError {
  const url = ctx.req.url ?? '';
  const q = url.indexOf('?');
  const asked = q === -1 ? null : new URLSearchParams(url.slice(q + 1)).get('variant');
  if (asked === null) return VIDEO;
  const asset = ASSETS.get(asked);
  if (asset === undefined)
    return errors.invalidBody(
      `\`variant\` must be one of video, thumbnail, spritesheet (got ${JSON.stringify(asked.slice(0, 64))})`,
    );
  if (vendor.delivery === 'redirect' && asset.variant !== 'video')
    return errors.invalidBody(
      `variant ${JSON.stringify(asked)} is not available for provider ${JSON.stringify(vendor.id)}: only the video is`,
    );
  return { ...asset, forward: true };
}

function answerPoll(
  rt: GatewayRuntime,
  ctx: RequestContext,
  id: string,
  t: VideoTarget,
  s: VideoState,
): void {
  const video: VideoObject = {
    id,
    object: 'video',
    // The Model's display name, as the reference answers (open point AJ-13).
    model: t.view.display_name,
    status: s.status,
    progress: s.progress,
    created_at: 0,
    ...(s.seconds !== undefined ? { seconds: s.seconds } : {}),
    ...(s.status === 'failed' ? { error: s.error ?? GENERIC_FAILURE } : {}),
  };
  sendSuccessJson(ctx, rt.ident, JSON.stringify(video));
}

function redirectTarget(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

async function answerContent(
  rt: GatewayRuntime,
  ctx: RequestContext,
  t: VideoTarget,
  task: string,
  s: VideoState,
  asset: VideoAsset,
): Promise<void> {
  if (s.status === 'queued' || s.status === 'in_progress') {
    return sendError(
      ctx,
      rt.ident,
      errors.invalidBody(
        `video is not ready yet (status: ${s.status}); poll GET /v1/videos/{id} until its status is completed`,
      ),
    );
  }
  if (s.status === 'failed') {
    const detail = (s.error ?? GENERIC_FAILURE).message;
    return sendError(ctx, rt.ident, errors.invalidBody(`video generation failed: ${detail}`));
  }
  if (t.vendor.delivery === 'redirect') {
    const location = redirectTarget(s.videoUrl);
    if (location === undefined)
      return sendError(
        ctx,
        rt.ident,
        errors.decode('upstream returned an unparseable body: no valid video URL in the completed task'),
      );
    ctx.settled = true;
    ctx.res.writeHead(302, baseHeaders(ctx, rt.ident, { location, 'content-length': 0 }));
    ctx.res.end();
    return;
  }
  const url = t.urls.content(task);
  if (url === undefined) return sendError(ctx, rt.ident, errors.internal());
  if (asset.forward === true) url.searchParams.set('variant', asset.variant);
  const r = await withRetries(rt, ctx, t, true, () => relayContent(rt, ctx, t, url, asset));
  if (r !== undefined && !r.ok) sendError(ctx, rt.ident, r.error);
}
