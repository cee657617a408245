/**
 * One etcd watch over the JSON gateway: `POST /v3/watch` with a create request, then a
 * newline-delimited JSON stream of `{"result": WatchResponse}` objects, parsed incrementally.
 *
 * It reports how the stream ended and never resumes on its own: resuming from a remembered
 * revision is exactly the mistake that loses events (dependencies.md §1.2); the caller
 * (watch-loop.ts) re-loads at a fresh revision instead.
 *
 * Stall detection. A quiet prefix is normal, and etcd's progress notifications come only
 * every 10 minutes by default (`--experimental-watch-progress-notify-interval`), so "no
 * bytes for N seconds" alone cannot tell a dead stream from an idle one. Nor can we ask for
 * progress mid-stream: the 3.4 gateway does not answer a request body that stays open.
 * So after `idleProbeMs` of silence we open a short second watch from the last revision we
 * delivered + 1: if etcd has events there that our stream has not sent (and still has not
 * sent `STALL_GRACE_MS` later), the stream is stalled and ends with an error. Default 30 s:
 * long enough that an idle gateway costs one tiny probe per half minute, short enough that a
 * silently broken stream is replaced well within a minute. TCP keepalive on the stream
 * socket (gateway-client.ts) covers a peer that vanished without a reset.
 */
import { StringDecoder } from 'node:string_decoder';
import type { WatchEnd, WatchEvent } from '../types.js';
import { type GatewayClient, GatewayError } from './gateway-client.js';
import { b64, int, unb64 } from './keys.js';

export interface WatchStreamOptions {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  from: number;
  onEvents: (events: WatchEvent[]) => void;
  signal: AbortSignal;
  idleProbeMs: number;
}

/** How long the probe watch listens for events etcd still has to send. */
const PROBE_WINDOW_MS = 1_000;
/** After a positive probe, how long the main stream may still take to deliver. */
const STALL_GRACE_MS = 2_000;

interface RawKv {
  key?: string;
  value?: string;
  mod_revision?: string;
}
interface RawWatchResponse {
  header?: { revision?: string };
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: { type?: string; kv?: RawKv }[];
}
interface RawWatchMessage {
  result?: RawWatchResponse;
  error?: { message?: string; http_code?: number } | string;
}

function createBody(o: { key: Uint8Array; rangeEnd: Uint8Array; from: number }): unknown {
  return {
    create_request: {
      key: b64(o.key),
      range_end: b64(o.rangeEnd),
      start_revision: String(o.from),
      progress_notify: true,
      prev_kv: false,
    },
  };
}

function toEvents(raw: RawWatchResponse['events']): WatchEvent[] {
  const out: WatchEvent[] = [];
  for (const e of raw ?? []) {
    const key = unb64(e.kv?.key).toString('utf8');
    const revision = int(e.kv?.mod_revision);
    // PUT is enum value 0, which the gateway omits.
    if (e.type === 'DELETE') out.push({ type: 'delete', key, revision });
    else out.push({ type: 'put', key, value: unb64(e.kv?.value), revision });
  }
  return out;
}

/** What one parsed message means for the stream: keep going, or end with this result. */
function interpret(msg: RawWatchMessage): WatchEnd | RawWatchResponse {
  if (msg.error !== undefined) {
    const text = typeof msg.error === 'string' ? msg.error : (msg.error.message ?? 'unknown error');
    if (text.includes('compacted')) return { reason: 'compacted', compactRevision: 0 };
    return { reason: 'error', error: new GatewayError(`etcd watch: ${text}`, { transport: false }) };
  }
  const r = msg.result;
  if (!r) return { reason: 'error', error: new Error('etcd watch: message without result') };
  const compactRevision = int(r.compact_revision);
  if (compactRevision !== 0) return { reason: 'compacted', compactRevision };
  if (r.canceled) {
    const why = r.cancel_reason ?? '';
    if (why.includes('compacted')) return { reason: 'compacted', compactRevision: 0 };
    return { reason: 'error', error: new Error(`etcd watch canceled by the server: ${why || 'no reason'}`) };
  }
  return r;
}

function isEnd(x: WatchEnd | RawWatchResponse): x is WatchEnd {
  return typeof (x as { reason?: unknown }).reason === 'string';
}

/** Runs one watch until it ends; see the module header for the end reasons. */
export async function runWatch(client: GatewayClient, o: WatchStreamOptions): Promise<WatchEnd> {
  if (o.signal.aborted) return { reason: 'aborted' };
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  let ended: WatchEnd | undefined;
  let body: Awaited<ReturnType<GatewayClient['stream']>>['body'] | undefined;
  const finish = (end: WatchEnd) => {
    ended ??= end;
    body?.destroy();
  };
  let lastRev = o.from - 1;
  let lastByteAt = Date.now();
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => void checkStall(), o.idleProbeMs);
  };
  const checkStall = async () => {
    const probeStart = Date.now();
    try {
      const pending = await probeHasEvents(client, o, lastRev + 1, ac.signal);
      if (!pending || ended) return armIdle();
      await new Promise((r) => setTimeout(r, STALL_GRACE_MS));
      if (ended || lastByteAt >= probeStart) return armIdle();
      finish({
        reason: 'error',
        error: new Error('etcd watch stalled: etcd has newer events the stream did not send'),
      });
    } catch (err) {
      if (ended || ac.signal.aborted) return;
      finish({
        reason: 'error',
        error: new Error(`etcd watch silent and probe failed: ${(err as Error).message}`),
      });
    }
  };

  try {
    const open = await client.stream('/v3/watch', createBody({ ...o, from: o.from }), ac.signal);
    body = open.body;
    if (ended) body.destroy();
    armIdle();
    const decoder = new StringDecoder('utf8');
    let buf = '';
    for await (const chunk of body) {
      lastByteAt = Date.now();
      armIdle();
      buf += decoder.write(chunk);
      let nl = buf.indexOf('\n');
      while (nl >= 0 && !ended) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
        if (!line) continue;
        let msg: RawWatchMessage;
        try {
          msg = JSON.parse(line) as RawWatchMessage;
        } catch {
          finish({ reason: 'error', error: new Error('etcd watch: malformed JSON in the stream') });
          break;
        }
        const r = interpret(msg);
        if (isEnd(r)) {
          finish(r);
          break;
        }
        const events = toEvents(r.events);
        if (events.length > 0) {
          lastRev = (events[events.length - 1] as WatchEvent).revision;
          o.onEvents(events);
        } else if (!r.created) {
          // A progress notification: nothing under the prefix up to this revision.
          lastRev = Math.max(lastRev, int(r.header?.revision));
        }
      }
      if (ended) break;
    }
    finish(o.signal.aborted ? { reason: 'aborted' } : { reason: 'closed' });
  } catch (err) {
    if (o.signal.aborted) finish({ reason: 'aborted' });
    else finish({ reason: 'error', error: err instanceof Error ? err : new Error(String(err)) });
  } finally {
    clearTimeout(idleTimer);
    o.signal.removeEventListener('abort', onAbort);
    ac.abort();
  }
  return o.signal.aborted && ended?.reason !== 'error' ? { reason: 'aborted' } : (ended as WatchEnd);
}

/**
 * Opens a short second watch from `from` and reports whether etcd sends any event (or a
 * compaction) within PROBE_WINDOW_MS. Unsynced watchers catch up in etcd's 100 ms sync
 * loop, so pending events arrive well inside the window.
 */
async function probeHasEvents(
  client: GatewayClient,
  o: { key: Uint8Array; rangeEnd: Uint8Array },
  from: number,
  parent: AbortSignal,
): Promise<boolean> {
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  parent.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => ac.abort(), PROBE_WINDOW_MS);
  try {
    const { body } = await client.stream('/v3/watch', createBody({ ...o, from }), ac.signal);
    const decoder = new StringDecoder('utf8');
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.write(chunk);
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const r = interpret(JSON.parse(line) as RawWatchMessage);
          if (isEnd(r)) return r.reason === 'compacted';
          if ((r.events?.length ?? 0) > 0) return true;
        }
      }
    } catch (err) {
      if (ac.signal.aborted && !parent.aborted) return false;
      throw err;
    } finally {
      body.destroy();
    }
    return false;
  } catch (err) {
    if (ac.signal.aborted && !parent.aborted) return false;
    throw err;
  } finally {
    clearTimeout(timer);
    parent.removeEventListener('abort', onAbort);
  }
}
