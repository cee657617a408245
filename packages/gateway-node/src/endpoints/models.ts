/**
 * `GET /v1/models` (data-plane §3.6): every model alias without `*`, filtered by the caller's
 * `allowed_models`, sorted by id; `owned_by` is the provider (or `aisix` for virtual models).
 */
import { sendJson } from '../http/respond.js';
import { modelAllowed } from '../pipeline/access.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { RequestContext } from '../pipeline/context.js';
import { apiKeyView, modelKind, modelView } from '../resources.js';
import type { GatewayRuntime } from '../runtime.js';

export async function listModels(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  const key = await authenticateCaller(rt, ctx);
  if (!key) return;
  const allowed = apiKeyView(key).allowed_models;
  const created = Math.floor(Date.now() / 1000);
  const data: { id: string; object: 'model'; created: number; owned_by: string }[] = [];
  for (const m of ctx.snapshot.byId('models').values()) {
    const v = modelView(m);
    if (v.display_name.includes('*') || !modelAllowed(allowed, v.display_name)) continue;
    const owner = modelKind(v) === 'direct' ? (v.provider ?? 'aisix') : 'aisix';
    data.push({ id: v.display_name, object: 'model', created, owned_by: owner });
  }
  data.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  sendJson(ctx, rt.ident, 200, JSON.stringify({ object: 'list', data }));
}
