/**
 * What the remote guardrail kinds share: the HTTP call (JSON in, JSON out, the caller's abort
 * signal for `timeout_ms`), the error that classifies a failed call for the bypass reason, and
 * the `RemoteCheck` each vendor module builds from its resource.
 */
import { type Dispatcher, request } from 'undici';
import { readWhole } from '../../upstream/client.js';
import type { Finding } from '../types.js';

export type Phase = 'input' | 'output';

/** One HTTP exchange (`upstreamHttp` in the gateway; tests and embedders may pass another). */
export type GuardrailHttp = (
  url: string,
  init: { method: 'POST'; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{ status: number; text(): Promise<string> }>;

/**
 * Vendor calls over the gateway's upstream agent, like every other outbound call: `upstream.*`
 * (timeouts, keepalive, pooling) and `upstream.tls` (trusted CAs, client certificate, verify)
 * apply, and undici's `request` costs a fraction of `fetch` per call. Redirects are not followed
 * (a 3xx is a non-2xx answer). The answer is read whole before it is handed over, so every
 * exchange frees its connection whatever the caller does with it; an answer larger than
 * `MAX_VENDOR_ANSWER` is not a verdict (`bad_response`), and its download is cut off.
 */
export function upstreamHttp(agent: Dispatcher): GuardrailHttp {
  let h = httpByAgent.get(agent);
  if (h === undefined) {
    h = httpOver(agent);
    httpByAgent.set(agent, h);
  }
  return h;
}

const httpByAgent = new WeakMap<Dispatcher, GuardrailHttp>();

/** Vendor verdicts are small (spans of the text at most): a bound, not a size any vendor sends. */
export const MAX_VENDOR_ANSWER = 16 * 1024 * 1024;

function httpOver(agent: Dispatcher): GuardrailHttp {
  return async (url, init) => {
    const res = await request(url, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      signal: init.signal,
      dispatcher: agent,
    });
    const bytes = await readWhole(res, MAX_VENDOR_ANSWER);
    if (bytes === undefined) throw new RemoteError('bad_response');
    const text = bytes.toString('utf8');
    return { status: res.statusCode, text: () => Promise.resolve(text) };
  };
}

/** A vendor call that did not produce a verdict; `type` is the bypass reason / metric label. */
export class RemoteError extends Error {
  constructor(readonly type: string) {
    super(type);
  }
}

export interface RemoteCheck {
  /** Findings of the vendor for `text` (throws `RemoteError` or any error when it cannot tell). */
  check(text: string, phase: Phase, http: GuardrailHttp, signal: AbortSignal): Promise<Finding[]>;
}

export type Json = Record<string, unknown>;

/** POSTs JSON and parses the JSON answer; non-2xx and unparsable answers throw `RemoteError`. */
export async function postJson(
  http: GuardrailHttp,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  signal: AbortSignal,
): Promise<unknown> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await http(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: payload,
    signal,
  });
  const text = await res.text();
  if (res.status < 200 || res.status >= 300)
    throw new RemoteError(res.status >= 500 ? 'status_5xx' : 'status_4xx');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new RemoteError('bad_response');
  }
}

export const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

export const trimSlash = (s: string) => s.replace(/\/+$/, '');

/** A whole-text block finding (vendors that classify rather than locate). */
export const blockAll = (detector: string): Finding[] => [{ start: 0, end: 0, detector, action: 'block' }];
