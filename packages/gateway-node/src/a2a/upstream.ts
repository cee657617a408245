/**
 * The HTTP side of every hop to an A2A agent (calls and card fetches): the headers (version pin,
 * gateway-held credential), one request over the gateway's shared undici agent (no redirects:
 * `request()` never follows them), capped body reads, and the failures callers see. Transport
 * details (which may name internal hosts) stay in `detail`, for the log only (OP-14, AJ-5).
 */
import type { Dispatcher } from 'undici';
import type { GatewayRuntime } from '../runtime.js';
import { describeTransportError } from '../upstream/client.js';
import type { AgentView } from './compile.js';

const MAX_BODY_BYTES = 16 * 1024 * 1024;
export type RpcId = string | number | null;

/** A relay failure: the caller sees `message`; `detail` goes to the log. */
export class A2aFailure extends Error {
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

export function errorEnvelope(id: RpcId, message: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32000, message } });
}

const unreachable = (why: string, detail?: string) =>
  new A2aFailure(`failed to reach upstream A2A agent: ${why}`, detail);
const failed = (why: string) => new A2aFailure(`upstream A2A request failed: ${why}`);

/** The headers of every upstream hop to `agent` (calls, card fetches). */
export function agentHeaders(rt: GatewayRuntime, agent: AgentView, accept: string): Record<string, string> {
  const h: Record<string, string> = {
    accept,
    'a2a-version': agent.protocolVersion,
    'user-agent': rt.userAgent,
  };
  if (agent.auth !== undefined) h[agent.auth.name] = agent.auth.value;
  return h;
}

/** One upstream request; transport failures and the deadline become `A2aFailure`s. */
export async function upstreamRequest(
  rt: GatewayRuntime,
  url: URL,
  opts: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; signal: AbortSignal },
  timeoutMs: number,
): Promise<Dispatcher.ResponseData> {
  try {
    return await rt.upstreams.base.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: opts.method,
      headers: opts.headers,
      body: opts.body ?? null,
      signal: opts.signal,
    });
  } catch (e) {
    throw transportFailure(e, opts.signal, timeoutMs);
  }
}

export function transportFailure(e: unknown, signal: AbortSignal, timeoutMs: number): A2aFailure {
  if (signal.aborted && signal.reason === TIMEOUT) return unreachable(`timed out after ${timeoutMs} ms`);
  return unreachable('connection failed', describeTransportError(e));
}

/** Abort reasons. */
export const TIMEOUT = 'a2a-timeout';
export const CLIENT_GONE = 'a2a-client-gone';

/** Reads the whole body up to `MAX_BODY_BYTES`; over the cap → failure. */
export async function readUpTo(body: Dispatcher.ResponseData['body']): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    const b = c as Buffer;
    size += b.length;
    if (size > MAX_BODY_BYTES) {
      body.destroy();
      throw failed('the response body exceeds 16 MiB');
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

export function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf));
  } catch {
    throw failed('the response is not JSON');
  }
}

export function check2xx(res: Dispatcher.ResponseData): void {
  if (res.statusCode >= 200 && res.statusCode < 300) return;
  res.body.dump().catch(() => {});
  throw failed(`upstream returned HTTP ${res.statusCode}`);
}
