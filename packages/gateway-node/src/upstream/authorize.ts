/**
 * The async-credentials seam on the gateway side: adapters with an `authorize` hook (OAuth token
 * minting for Vertex, Entra ID for Azure, ...) get the prepared request back with credentials
 * added, right before each upstream attempt, through an `AdapterHttpClient` over the gateway's
 * undici agent (never `fetch`).
 *
 * The hook runs per attempt, not at target build time, so candidates of a group that are never
 * tried never mint, and a retry after a long backoff sees a fresh token. Refusals map like
 * `prepare` refusals (invalid_credentials → 401 authentication_error); a rejected promise (token
 * endpoint unreachable) is a transport failure of the attempt (502, retryable). Adapter caches
 * make the common case a map lookup.
 */
import type { AdapterHttpClient } from '@aisix/providers';
import type { Dispatcher } from 'undici';
import { errors } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';
import { providerKeyView } from '../resources.js';
import { readWhole } from './client.js';
import { type AttemptFailure, transportFailure } from './failures.js';
import type { Target } from './target.js';

/** Token responses are small; anything larger is not a token response. */
const MAX_BODY = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;

const clients = new WeakMap<Dispatcher, AdapterHttpClient>();

/** One client per agent (so one per gateway), created on first use. */
export function adapterHttpFor(agent: Dispatcher): AdapterHttpClient {
  let c = clients.get(agent);
  if (!c) {
    c = createAdapterHttpClient(agent);
    clients.set(agent, c);
  }
  return c;
}

export function createAdapterHttpClient(agent: Dispatcher): AdapterHttpClient {
  return {
    async request(url, init) {
      const u = new URL(url);
      const r = await agent.request({
        origin: u.origin,
        path: u.pathname + u.search,
        method: init.method as Dispatcher.HttpMethod,
        headers: init.headers,
        ...(init.body !== undefined ? { body: init.body } : {}),
        signal: AbortSignal.timeout(init.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
      const bytes = await readWhole(r, MAX_BODY);
      if (bytes === undefined) throw new Error('adapter http response too large');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers)) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      }
      return { status: r.statusCode, headers, body: bytes.toString('utf8') };
    },
  };
}

export type AuthorizeResult =
  | { readonly ok: true; readonly target: Target }
  | { readonly ok: false; readonly failure: AttemptFailure };

/**
 * Runs the adapter's `authorize` hook for one attempt. `retryable` is true inside a group (the
 * same as a build-time refusal there: fail over), false for a direct model.
 */
export async function authorizeTarget(
  ctx: RequestContext,
  t: Target,
  retryable: boolean,
): Promise<AuthorizeResult> {
  const hook = t.adapter.authorize;
  if (!hook) return { ok: true, target: t };
  const pk = ctx.snapshot.byId('provider_keys').get(t.view.provider_key_id ?? '');
  if (!pk) return { ok: false, failure: { error: errors.internal(), retryable, timeout: false } };
  try {
    const r = await hook.call(t.adapter, t.prepared, {
      providerKey: providerKeyView(pk),
      http: adapterHttpFor(t.dispatcher),
      now: Date.now(),
    });
    if (!r.ok) {
      return { ok: false, failure: { error: errors.fromAdapter(r.error), retryable, timeout: false } };
    }
    return { ok: true, target: { ...t, prepared: r.request } };
  } catch (err) {
    return { ok: false, failure: transportFailure(err) };
  }
}
