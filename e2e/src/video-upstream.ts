/**
 * A local HTTP server that plays the video providers (DashScope, Zhipu, Ark, Runway, OpenAI)
 * for the videos e2e tests: each test scripts the answer of a `METHOD /path` and reads back
 * every request the gateway made (method, path, headers, body).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export type Reply = (res: ServerResponse, req: SeenRequest) => void | Promise<void>;

export interface VideoUpstream {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly seen: SeenRequest[];
  /** Scripts `METHOD /path`; the latest script for a route wins. */
  on(method: 'GET' | 'POST', path: string, reply: Reply): void;
  /** Requests to one path (any method). */
  calls(path: string): SeenRequest[];
  close(): Promise<void>;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return (res) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  };
}

/** Answers each request with the next reply; the last one repeats. */
export function sequence(...replies: Reply[]): Reply {
  let i = 0;
  return (res, req) => (replies[Math.min(i++, replies.length - 1)] as Reply)(res, req);
}

export async function startVideoUpstream(): Promise<VideoUpstream> {
  const seen: SeenRequest[] = [];
  const routes = new Map<string, Reply>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const r: SeenRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    seen.push(r);
    const reply = routes.get(`${r.method} ${r.path}`);
    if (reply === undefined)
      return json(404, { error: { code: 'not_found', message: `mock: ${r.method} ${r.path}` } })(res, r);
    await reply(res, r);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    on(method, path, reply) {
      routes.set(`${method} ${path}`, reply);
    },
    calls: (path) => seen.filter((s) => s.path === path),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
