/**
 * A request node's HTTP parser refused (duplicate Content-Length, headers too large, a body
 * timeout): node hands over only the socket and, for parser errors, the bytes it had. What can be
 * read of the request head from them (method, path, headers) is rebuilt into a request and a
 * response on that socket, so the refusal is answered, logged and counted like any request:
 * in the envelope of the route it was for (Anthropic under `/v1/messages`, data-plane §7.2,
 * §8.10), with an access-log line and the request metrics.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** The request line and headers read from a raw packet; undefined when it has no request line. */
export interface RawHead {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

const REQUEST_LINE = /^([A-Z]{1,16}) (\S{1,8192}) HTTP\/1\.[01]$/;
/** Bytes read at most for the head (what node's default header limit allows, and a margin). */
const MAX_HEAD = 64 * 1024;

export function parseRawHead(raw: unknown): RawHead | undefined {
  if (!Buffer.isBuffer(raw)) return undefined;
  const text = raw.toString('latin1', 0, Math.min(raw.length, MAX_HEAD));
  const end = text.indexOf('\r\n\r\n');
  const lines = (end === -1 ? text : text.slice(0, end)).split('\r\n');
  const m = REQUEST_LINE.exec(lines[0] ?? '');
  if (m === null) return undefined;
  const headers: Record<string, string> = {};
  // A head cut short (headers too large) has a partial last line: left out.
  const last = end === -1 ? lines.length - 1 : lines.length;
  for (let i = 1; i < last; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method: m[1] as string, url: m[2] as string, headers };
}

/**
 * A request and a response on `socket` for a refused request: the response closes the connection
 * once written (the parser's state is unknown, so nothing more is read from it).
 */
export function refusedExchange(
  socket: Duplex,
  head: RawHead | undefined,
): {
  req: IncomingMessage;
  res: ServerResponse;
} {
  const req = new IncomingMessage(socket as Socket);
  req.method = head?.method ?? 'GET';
  req.url = head?.url ?? '/';
  req.headers = head?.headers ?? {};
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  req.httpVersion = '1.1';
  return { req, res: closingResponse(req, socket) };
}

/**
 * A response to `req` written on a socket node:http no longer manages (a refused request, a
 * CONNECT): one answer, then the connection closes.
 */
export function closingResponse(req: IncomingMessage, socket: Duplex): ServerResponse {
  socket.on('error', () => socket.destroy());
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => socket.end());
  return res;
}
