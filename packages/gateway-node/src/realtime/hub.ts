/**
 * Per-process realtime state, held by the gateway runtime: the `ws` acceptor (no listener of its
 * own; the proxy server's `upgrade` event feeds it) and the live sessions the drain closes.
 */
import type { WebSocketServer } from 'ws';
import { ws } from './ws.js';

/** Largest message accepted from either side (OpenAI caps one audio append at 15 MiB). */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** What the drain needs of a session (`session.ts`). */
export interface LiveSession {
  shutdown(hard: boolean): void;
}

/** The live sessions of this process, for the drain (`closeAll`) and hard stop (`terminateAll`). */
export class RealtimeSessions {
  private readonly live = new Set<LiveSession>();

  add(s: LiveSession): void {
    this.live.add(s);
  }

  delete(s: LiveSession): void {
    this.live.delete(s);
  }

  /** Graceful: 1001 to both sides of every session. */
  closeAll(): void {
    for (const s of [...this.live]) s.shutdown(false);
  }

  terminateAll(): void {
    for (const s of [...this.live]) s.shutdown(true);
  }
}

/** This process's WebSocket acceptor (no listener of its own) and its live sessions. */
export interface RealtimeHub {
  readonly wss: WebSocketServer;
  readonly sessions: RealtimeSessions;
}

/** Request ids of the handshakes being accepted, for the 101's headers. */
export const acceptingIds = new WeakMap<object, string>();

/** The acceptor is made on first use (the first realtime handshake). */
export function createRealtimeHub(server: string): RealtimeHub {
  let wss: WebSocketServer | undefined;
  return {
    get wss() {
      wss ??= createAcceptor(server);
      return wss;
    },
    sessions: new RealtimeSessions(),
  };
}

function createAcceptor(server: string): WebSocketServer {
  const wss = new (ws().WebSocketServer)({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE_BYTES,
    // The browser flow offers `realtime` next to the key subprotocol: select it, never the key.
    handleProtocols: (offered) => (offered.has('realtime') ? 'realtime' : false),
  });
  wss.on('headers', (headers, req) => {
    headers.push(`server: ${server}`);
    const id = acceptingIds.get(req);
    if (id !== undefined) headers.push(`x-aisix-request-id: ${id}`);
  });
  return wss;
}
