/**
 * The proxy server's `upgrade` event (agents-and-jobs §7.1). node:http hands every request that
 * asks for a protocol upgrade to this event once a listener exists, whatever its path:
 *
 * - `/v1/realtime` runs through the normal request handler with a `ServerResponse` written on the
 *   raw socket, so every refusal before the 101 is the same plain HTTP answer (envelope, request
 *   id, access log, metrics) as on any route; the socket and the bytes read past the head wait
 *   here for `handleUpgrade`.
 * - any other path is served as if the upgrade had not been asked for (RFC 9110 §7.8 lets a
 *   server ignore `Upgrade`, e.g. curl's `h2c`): the head is rebuilt without the upgrade tokens
 *   and the connection goes back to the HTTP parser, so those routes behave exactly as before.
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface PendingUpgrade {
  readonly socket: Duplex;
  /** Bytes the HTTP parser read past the request head (the first WebSocket frames). */
  readonly head: Buffer;
}

const pending = new WeakMap<IncomingMessage, PendingUpgrade>();

/** The upgrade waiting on a request; undefined when it came through the plain request path. */
export function pendingUpgrade(req: IncomingMessage): PendingUpgrade | undefined {
  return pending.get(req);
}

/** A response written on the upgrade's raw socket: one answer, then the connection closes. */
export function upgradeResponse(req: IncomingMessage, socket: Duplex, head: Buffer): ServerResponse {
  // node:http no longer watches this socket: errors are ours (a reset must not crash the worker).
  socket.on('error', () => socket.destroy());
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => socket.end());
  pending.set(req, { socket, head });
  return res;
}

const UPGRADE_ONLY = new Set(['upgrade', 'http2-settings']);

/** Hands the connection back to the HTTP parser with the upgrade request minus its upgrade asks. */
export function serveWithoutUpgrade(
  server: Server,
  req: IncomingMessage,
  url: string,
  socket: Duplex,
  head: Buffer,
): void {
  const lines = [`${req.method} ${url} HTTP/${req.httpVersion}`];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (UPGRADE_ONLY.has(lower)) continue;
    const value = raw[i + 1] as string;
    if (lower === 'connection') {
      const kept = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && !UPGRADE_ONLY.has(t.toLowerCase()));
      if (kept.length > 0) lines.push(`${name}: ${kept.join(', ')}`);
      continue;
    }
    lines.push(`${name}: ${value}`);
  }
  socket.unshift(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), head]));
  // An HTTPS server parses what its TLS layer emits as `secureConnection`.
  server.emit(
    (socket as Socket & { encrypted?: boolean }).encrypted ? 'secureConnection' : 'connection',
    socket,
  );
}
