/**
 * Relaying one JSON-RPC call to an A2A agent (agents-and-jobs §3.4-3.5). The body goes
 * upstream re-serialized with `A2A-Version` and the gateway-held credential; the caller's
 * credential never does. Unary: `timeout_ms` bounds the whole exchange, the answer is capped at
 * 16 MiB and relayed verbatim. Streaming: `timeout_ms` bounds the opening only; each upstream
 * event is re-emitted as soon as it is complete (no buffering), keep-alive comments fill
 * silences, and a caller who leaves aborts the upstream request. Failures answer 502 with a
 * JSON-RPC error `-32000`.
 */
import { NESTED_TOO_DEEP, nestedTooDeep } from '@aisix/core';
import type { Dispatcher } from 'undici';
import { baseHeaders, sendBody } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import { describeTransportError } from '../upstream/client.js';
import type { AgentView } from './compile.js';
import { SseDecoder } from './sse.js';
import {
  A2aFailure,
  agentHeaders,
  CLIENT_GONE,
  check2xx,
  errorEnvelope,
  parseJson,
  type RpcId,
  readUpTo,
  TIMEOUT,
  transportFailure,
  upstreamRequest,
} from './upstream.js';

const HEARTBEAT = ':\n\n';

interface Call {
  readonly rt: GatewayRuntime;
  readonly ctx: RequestContext;
  readonly agent: AgentView;
  readonly url: URL;
  readonly body: string;
  readonly id: RpcId;
}

/** Sends the 502 of a failed call (when the caller is still there) and logs the detail. */
function fail(c: Call, e: A2aFailure): void {
  c.rt.logger.warn(
    { request_id: c.ctx.id, agent: c.agent.name, url: c.url.href, err: e.detail ?? e.message },
    'A2A upstream call failed',
  );
  c.ctx.errorType = 'upstream_error';
  c.ctx.errorMessage = e.message;
  sendBody(c.ctx, c.rt.ident, 502, 'application/json', errorEnvelope(c.id, e.message));
}

function deadline(c: Call): { ac: AbortController; timer: NodeJS.Timeout } {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(TIMEOUT), c.agent.timeoutMs);
  c.ctx.onClientGone = () => ac.abort(CLIENT_GONE);
  return { ac, timer };
}

export async function relayUnary(c: Call): Promise<void> {
  const { ac, timer } = deadline(c);
  try {
    const res = await upstreamRequest(
      c.rt,
      c.url,
      { method: 'POST', headers: postHeaders(c, 'application/json'), body: c.body, signal: ac.signal },
      c.agent.timeoutMs,
    );
    check2xx(res);
    let raw: Buffer;
    try {
      raw = await readUpTo(res.body);
    } catch (e) {
      if (e instanceof A2aFailure) throw e;
      throw transportFailure(e, ac.signal, c.agent.timeoutMs);
    }
    parseJson(raw);
    c.ctx.settled = true;
    sendBody(c.ctx, c.rt.ident, 200, 'application/json', raw.toString('utf8'));
  } catch (e) {
    if (ac.signal.reason === CLIENT_GONE) return;
    if (!(e instanceof A2aFailure)) throw e;
    fail(c, e);
  } finally {
    clearTimeout(timer);
  }
}

function postHeaders(c: Call, accept: string): Record<string, string> {
  const h = agentHeaders(c.rt, c.agent, accept);
  h['content-type'] = 'application/json';
  return h;
}

export async function relayStream(c: Call): Promise<void> {
  const { ac, timer } = deadline(c);
  let res: Dispatcher.ResponseData;
  try {
    res = await upstreamRequest(
      c.rt,
      c.url,
      { method: 'POST', headers: postHeaders(c, 'text/event-stream'), body: c.body, signal: ac.signal },
      c.agent.timeoutMs,
    );
    check2xx(res);
    const type = String(res.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('text/event-stream')) {
      // A JSON answer (say, a JSON-RPC refusal) becomes the stream's single event.
      let raw: Buffer;
      try {
        raw = await readUpTo(res.body);
      } catch (e) {
        if (e instanceof A2aFailure) throw e;
        throw transportFailure(e, ac.signal, c.agent.timeoutMs);
      }
      const doc = parseJson(raw);
      // Re-encoded as one event: deeper than the JSON bound, JSON.stringify would overflow.
      if (nestedTooDeep(doc))
        throw new A2aFailure(`upstream A2A request failed: the response is ${NESTED_TOO_DEEP}`);
      clearTimeout(timer);
      c.ctx.settled = true;
      c.ctx.res.writeHead(200, baseHeaders(c.ctx, c.rt.ident, sseHead()));
      c.ctx.res.end(`data: ${JSON.stringify(doc)}\n\n`);
      return;
    }
  } catch (e) {
    clearTimeout(timer);
    if (ac.signal.reason === CLIENT_GONE) return;
    if (!(e instanceof A2aFailure)) throw e;
    return fail(c, e);
  }
  // Open: from here on no deadline (a task may run for hours).
  clearTimeout(timer);
  await pump(c, res, ac);
}

function sseHead(): Record<string, string> {
  return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };
}

async function pump(c: Call, up: Dispatcher.ResponseData, ac: AbortController): Promise<void> {
  const out = c.ctx.res;
  c.ctx.settled = true;
  out.writeHead(200, baseHeaders(c.ctx, c.rt.ident, sseHead()));
  out.flushHeaders();
  let lastWrite = performance.now();
  const beatMs = c.rt.settings.sseKeepaliveMs;
  let beat: NodeJS.Timeout | undefined;
  // Re-armed from the last write, so a comment goes out only after a full silence. Timers may
  // fire a little before `performance.now()` says the time is up: 2 ms of slack.
  const tick = () => {
    if (out.destroyed || out.writableEnded) return;
    const idle = performance.now() - lastWrite;
    if (idle + 2 >= beatMs) {
      lastWrite = performance.now();
      out.write(HEARTBEAT);
      beat = setTimeout(tick, beatMs);
    } else beat = setTimeout(tick, beatMs - idle);
  };
  if (beatMs > 0) beat = setTimeout(tick, beatMs);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const sse = new SseDecoder();
  let fault: string | undefined;
  let backlog = false;
  const emit = (data: string) => {
    if (fault !== undefined) return;
    let doc: unknown;
    try {
      doc = JSON.parse(data);
    } catch {
      fault = 'an upstream event is not JSON';
      return;
    }
    if (nestedTooDeep(doc)) {
      fault = `an upstream event is ${NESTED_TOO_DEEP}`;
      return;
    }
    lastWrite = performance.now();
    if (!out.write(`data: ${JSON.stringify(doc)}\n\n`)) backlog = true;
  };
  try {
    for await (const chunk of up.body) {
      let text: string;
      try {
        text = decoder.decode(chunk as Buffer, { stream: true });
      } catch {
        fault = 'the upstream stream is not valid UTF-8';
        break;
      }
      fault = sse.push(text, emit) ?? fault;
      if (fault !== undefined) break;
      if (backlog) {
        backlog = false;
        // Slow caller: stop reading upstream until its socket drains (or it leaves).
        await new Promise<void>((resolve) => {
          const done = () => {
            out.off('drain', done);
            out.off('close', done);
            resolve();
          };
          out.on('drain', done);
          out.on('close', done);
        });
        if (out.destroyed) break;
      }
    }
    if (fault === undefined && !out.destroyed) {
      try {
        decoder.decode();
        fault = sse.end(emit) ?? fault;
      } catch {
        fault = 'the upstream stream is not valid UTF-8';
      }
    }
  } catch (e) {
    if (ac.signal.reason !== CLIENT_GONE) {
      fault = 'the upstream stream broke off';
      c.rt.logger.warn(
        { request_id: c.ctx.id, agent: c.agent.name, err: describeTransportError(e) },
        'A2A upstream stream failed',
      );
    }
  } finally {
    if (beat !== undefined) clearTimeout(beat);
  }
  if (fault !== undefined) {
    up.body.destroy();
    const message = `upstream A2A request failed: ${fault}`;
    c.ctx.errorType = 'upstream_error';
    c.ctx.errorMessage = message;
    if (c.ctx.a2a !== undefined) c.ctx.a2a.faulted = true;
    if (!out.destroyed && !out.writableEnded) out.end(`data: ${errorEnvelope(c.id, message)}\n\n`);
    return;
  }
  if (!out.destroyed && !out.writableEnded) out.end();
}
