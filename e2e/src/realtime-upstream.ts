/**
 * A mock OpenAI Realtime upstream built with `ws`: a real HTTP listener whose `/v1/realtime` (and
 * Azure's `/openai/realtime`) upgrades record the handshake (URL, headers) and script the session by the `model` query:
 *
 * - `session.update` → `session.updated`; `response.create` → one `response.done` with usage;
 * - a binary frame is echoed back as binary;
 * - a text frame `{"type":"test.close","code":N,"reason":"..."}` makes the upstream close with it;
 * - `{"type":"test.say","reason":"<base64>"}` → a `response.text.delta` carrying the decoded text
 *   (encoded so a guardrail on the client's frame does not see it);
 * - model `refuse-me` → the handshake is answered `403` (no 101).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

export interface Handshake {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

export interface UpstreamSession {
  readonly handshake: Handshake;
  readonly received: { data: Buffer; binary: boolean }[];
  /** Resolves with the close code and reason the gateway sent (or 1006 when cut). */
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly ws: WebSocket;
  /** Bytes a `test.flood` got out of this process (sent minus still buffered here). */
  flooded: number;
}

export interface RealtimeUpstream {
  readonly apiBase: string;
  readonly handshakes: Handshake[];
  readonly sessions: UpstreamSession[];
  /** The next session opened after this call. */
  nextSession(): Promise<UpstreamSession>;
  close(): Promise<void>;
}

export const USAGE = { input_tokens: 11, output_tokens: 7, input_token_details: { cached_tokens: 3 } };

/**
 * Sends 64 KiB binary frames for `ms`, as fast as this side's own send buffer (1 MiB) drains, then
 * `{"type":"test.flood.done","bytes":N}`: how much gets through shows whether the gateway reads
 * ahead of a client that does not.
 */
function flood(ws: WebSocket, s: UpstreamSession, ms: number): void {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const until = Date.now() + ms;
  let sent = 0;
  const pump = () => {
    while (Date.now() < until) {
      if (ws.bufferedAmount > 1024 * 1024) {
        s.flooded = sent - ws.bufferedAmount;
        setTimeout(pump, 5);
        return;
      }
      ws.send(chunk, { binary: true });
      sent += chunk.length;
    }
    s.flooded = sent - ws.bufferedAmount;
    ws.send(JSON.stringify({ type: 'test.flood.done', bytes: sent }));
  };
  pump();
}

export async function startRealtimeUpstream(): Promise<RealtimeUpstream> {
  const handshakes: Handshake[] = [];
  const sessions: UpstreamSession[] = [];
  let waiters: ((s: UpstreamSession) => void)[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const http: Server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  http.on('upgrade', (req, socket, head) => {
    const hs = { url: req.url ?? '', headers: req.headers };
    handshakes.push(hs);
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (
      (path !== '/v1/realtime' && path !== '/openai/realtime') ||
      url.searchParams.get('model') === 'refuse-me'
    ) {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const received: { data: Buffer; binary: boolean }[] = [];
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
      );
      const s: UpstreamSession = { handshake: hs, received, closed, ws, flooded: 0 };
      sessions.push(s);
      ws.on('message', (raw, binary) => {
        const data = raw as Buffer;
        received.push({ data, binary });
        if (binary) return ws.send(data, { binary: true });
        const ev = JSON.parse(data.toString()) as { type: string; code?: number; reason?: string };
        if (ev.type === 'session.update')
          ws.send(JSON.stringify({ type: 'session.updated', event_id: 'e1' }));
        else if (ev.type === 'response.create')
          ws.send(
            JSON.stringify({ type: 'response.done', event_id: 'e2', response: { id: 'r1', usage: USAGE } }),
          );
        else if (ev.type === 'test.close') ws.close(ev.code, ev.reason);
        else if (ev.type === 'test.flood') flood(ws, s, ev.code ?? 1500);
        else if (ev.type === 'test.say')
          ws.send(
            JSON.stringify({
              type: 'response.text.delta',
              delta: Buffer.from(ev.reason ?? '', 'base64').toString(),
            }),
          );
      });
      const w = waiters;
      waiters = [];
      for (const f of w) f(s);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  return {
    apiBase: `http://127.0.0.1:${port}/v1`,
    handshakes,
    sessions,
    nextSession: () => new Promise((resolve) => waiters.push(resolve)),
    async close() {
      for (const s of sessions) s.ws.terminate();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
