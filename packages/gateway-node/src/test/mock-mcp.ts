/**
 * A real upstream MCP server for tests, built with the official SDK (low-level `Server` and the
 * Streamable HTTP server transport, stateless, on loopback). Tools `echo` and `reverse` answer
 * with the server's name so a test sees which upstream served a call; every request's headers
 * are recorded; `authorize` can refuse a request with 401; `close` takes it down. With `tls` it
 * serves HTTPS (and, with `tls.ca`, requires a client certificate signed by it).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

export interface MockMcp {
  readonly url: string;
  readonly headers: IncomingHttpHeaders[];
  readonly calls: { tool: string; args: unknown }[];
  authorize: (h: IncomingHttpHeaders) => boolean;
  /** When set, requests are read and never answered (a hung upstream). */
  hang: boolean;
  close(): Promise<void>;
}

const TOOLS = [
  {
    name: 'echo',
    description: 'echoes text',
    title: 'Echo',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  },
  {
    name: 'reverse',
    description: 'reverses text',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
  },
];

export interface MockTls {
  readonly cert: string;
  readonly key: string;
  /** Require a client certificate issued by this CA. */
  readonly ca?: string;
}

export async function startMockMcp(name: string, tls?: MockTls): Promise<MockMcp> {
  const mock: MockMcp = {
    url: '',
    headers: [],
    calls: [],
    authorize: () => true,
    hang: false,
    close: async () => {},
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    mock.headers.push(req.headers);
    if (!mock.authorize(req.headers)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    if (mock.hang) return;
    // Tool `weird` answers content no MCP schema admits, raw (the SDK server would refuse to
    // send it): what a broken upstream sends.
    const rpc = (() => {
      try {
        return JSON.parse(raw) as { id?: unknown; method?: string; params?: { name?: string } };
      } catch {
        return undefined;
      }
    })();
    if (rpc?.method === 'tools/call' && rpc.params?.name === 'weird') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ jsonrpc: '2.0', id: rpc.id, result: { content: [{ type: 'weird', foo: 1 }] } }),
      );
      return;
    }
    const server = new Server({ name, version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
    server.setRequestHandler(CallToolRequestSchema, (r) => {
      const args = (r.params.arguments ?? {}) as { text?: string };
      mock.calls.push({ tool: r.params.name, args: r.params.arguments });
      const t = String(args.text ?? '');
      if (r.params.name === 'echo') return { content: [{ type: 'text', text: `${name}:echo:${t}` }] };
      if (r.params.name === 'reverse')
        return { content: [{ type: 'text', text: `${name}:${[...t].reverse().join('')}` }], isError: false };
      return { content: [{ type: 'text', text: `no tool ${r.params.name}` }], isError: true };
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, raw === '' ? undefined : JSON.parse(raw));
  };
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
  const http =
    tls === undefined
      ? createServer(serve)
      : createHttpsServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.ca !== undefined ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}),
          },
          serve,
        );
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  (mock as { url: string }).url = `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/mcp`;
  mock.close = () =>
    new Promise<void>((r) => {
      http.closeAllConnections();
      http.close(() => r());
    });
  return mock;
}
