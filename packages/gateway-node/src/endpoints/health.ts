/**
 * `/livez` and `/readyz` (control-plane §6.3). Liveness fails only once shutdown started;
 * readiness also waits for the first applied snapshot. Config age is deliberately not an input:
 * an idle config source must not make every replica unready.
 */
import { sendBody } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';

const TEXT = 'text/plain; charset=utf-8';
const NOSNIFF = { 'x-content-type-options': 'nosniff' };

export interface HealthBody {
  readonly status: number;
  readonly body: string;
}

export function livezBody(draining: boolean, verbose: boolean): HealthBody {
  if (draining)
    return { status: 503, body: '[+]ping ok\n[-]shutdown failed: reason withheld\nlivez check failed' };
  return { status: 200, body: verbose ? '[+]ping ok\n[+]shutdown ok\nlivez check passed' : 'ok' };
}

export function readyzBody(draining: boolean, ready: boolean, verbose: boolean): HealthBody {
  if (!draining && ready) {
    return { status: 200, body: verbose ? '[+]shutdown ok\n[+]config ok\nreadyz check passed' : 'ok' };
  }
  const shutdown = draining ? '[-]shutdown failed: draining' : '[+]shutdown ok';
  const config = ready ? '[+]config ok' : '[-]config failed: not ready';
  return { status: 503, body: `${shutdown}\n${config}\nreadyz check failed` };
}

function hasVerbose(url: string | undefined): boolean {
  const q = url?.indexOf('?') ?? -1;
  if (!url || q === -1) return false;
  return new URLSearchParams(url.slice(q + 1)).has('verbose');
}

export function livez(rt: GatewayRuntime, ctx: RequestContext): void {
  const h = livezBody(rt.ident.draining, hasVerbose(ctx.req.url));
  sendBody(ctx, rt.ident, h.status, TEXT, h.body, { ...NOSNIFF });
}

export function readyz(rt: GatewayRuntime, ctx: RequestContext): void {
  const h = readyzBody(rt.ident.draining, rt.snapshots.ready, hasVerbose(ctx.req.url));
  sendBody(ctx, rt.ident, h.status, TEXT, h.body, { ...NOSNIFF });
}
