/** A `ws` client for the realtime e2e: dial, a message queue, the close it saw, the refused handshake. */
import type { IncomingHttpHeaders } from 'node:http';
import { WebSocket } from 'ws';

export interface Frame {
  readonly data: Buffer;
  readonly binary: boolean;
}

export class Client {
  private readonly queue: Frame[] = [];
  private waiter: ((f: Frame) => void) | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, binary) => {
      const f = { data: data as Buffer, binary };
      const w = this.waiter;
      if (w !== undefined) {
        this.waiter = undefined;
        w(f);
      } else this.queue.push(f);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  next(timeoutMs = 5000): Promise<Frame> {
    const f = this.queue.shift();
    if (f !== undefined) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no frame in time')), timeoutMs);
      this.waiter = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    });
  }
}

export type Dial =
  | { readonly ok: true; readonly client: Client }
  | {
      readonly ok: false;
      readonly status: number;
      readonly body: string;
      readonly headers: IncomingHttpHeaders;
    };

export function dial(
  url: string,
  protocols: string[] = [],
  headers: Record<string, string> = {},
): Promise<Dial> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.on('open', () => resolve({ ok: true, client: new Client(ws) }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    ws.on('error', reject);
  });
}
