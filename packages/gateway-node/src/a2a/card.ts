/**
 * The agent card through the gateway (agents-and-jobs §3.6): fetched from the agent's
 * well-known candidates under one deadline, then rewritten so every URL in it points at the
 * gateway (`<scheme>://<host>/a2a/<agent>`): no client is ever told the agent's own address.
 * A card is any JSON object with a string `name` (AJ-6: a 1.0 card has no top-level `url`; we
 * add it while rewriting). The public scheme is the listener's unless a trusted proxy says
 * otherwise in `X-Forwarded-Proto` (AJ-7).
 */
import { nestedTooDeep } from '@aisix/core';
import { peerIsTrusted } from '../pipeline/access.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import type { AgentView } from './compile.js';
import { A2aFailure, agentHeaders, readUpTo, TIMEOUT, upstreamRequest } from './upstream.js';

/** Host header values we put into a URL: a name or IP literal, an optional port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_~]+)(?::\d{1,5})?$/;

/** The public base of the gateway for this request; a string error when it cannot be known. */
export function publicBase(
  rt: GatewayRuntime,
  ctx: RequestContext,
): { readonly base: string } | { readonly status: 400 | 500; readonly error: string } {
  const host = ctx.req.headers.host ?? ctx.req.headers[':authority'];
  if (typeof host !== 'string' || host === '')
    return { status: 500, error: 'cannot build the agent card URL: the request has no Host' };
  if (!HOST.test(host)) return { status: 400, error: 'invalid Host header' };
  let scheme = 'encrypted' in ctx.req.socket && ctx.req.socket.encrypted === true ? 'https' : 'http';
  const fwd = ctx.req.headers['x-forwarded-proto'];
  if (typeof fwd === 'string' && peerIsTrusted(ctx.req, rt.realIp)) {
    const first = fwd.split(',')[0]?.trim().toLowerCase();
    if (first === 'http' || first === 'https') scheme = first;
  }
  return { base: `${scheme}://${host}` };
}

/** Candidate card URLs in order (§3.6 step 3). */
export function cardCandidates(url: URL): URL[] {
  const p = url.pathname.replace(/\/+$/, '');
  const at = (path: string) => new URL(path, url.origin);
  if (p === '') return [at('/.well-known/agent-card.json'), at('/.well-known/agent.json')];
  return [
    at(`${p}/.well-known/agent-card.json`),
    at('/.well-known/agent-card.json'),
    at(`${p}/.well-known/agent.json`),
    at('/.well-known/agent.json'),
  ];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fetches the first valid card; throws the last candidate's failure when none is. */
export async function fetchCard(
  rt: GatewayRuntime,
  agent: AgentView,
  url: URL,
): Promise<Record<string, unknown>> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(TIMEOUT), agent.timeoutMs);
  let last: A2aFailure = new A2aFailure('no card candidate');
  try {
    for (const candidate of cardCandidates(url)) {
      try {
        const res = await upstreamRequest(
          rt,
          candidate,
          { method: 'GET', headers: agentHeaders(rt, agent, 'application/json'), signal: ac.signal },
          agent.timeoutMs,
        );
        if (res.statusCode < 200 || res.statusCode >= 300) {
          res.body.dump().catch(() => {});
          throw new A2aFailure(`${candidate.pathname} answered HTTP ${res.statusCode}`);
        }
        let doc: unknown;
        try {
          doc = JSON.parse((await readUpTo(res.body)).toString('utf8'));
        } catch (e) {
          if (e instanceof A2aFailure) throw e;
          throw new A2aFailure(`${candidate.pathname} is not a JSON agent card`);
        }
        // Too deep to rewrite and re-encode: as unparsable as a broken one.
        if (nestedTooDeep(doc)) throw new A2aFailure(`${candidate.pathname} is not a JSON agent card`);
        if (!isObject(doc) || typeof doc.name !== 'string')
          throw new A2aFailure(`${candidate.pathname} is not an agent card (no string name)`);
        return doc;
      } catch (e) {
        if (!(e instanceof A2aFailure)) throw e;
        last = e;
        // The shared deadline is spent: later candidates would fail the same way.
        if (ac.signal.aborted) break;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  throw last;
}

/** The card with every URL pointing at `publicUrl` (§3.6 step 4); the rest is kept. */
export function rewriteCard(card: Record<string, unknown>, publicUrl: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...card, url: publicUrl };
  for (const field of ['supportedInterfaces', 'additionalInterfaces']) {
    const list = card[field];
    if (!Array.isArray(list)) continue;
    out[field] = list.map((i: unknown) => (isObject(i) && 'url' in i ? { ...i, url: publicUrl } : i));
  }
  return out;
}
