/**
 * A real upstream MCP server for tests, built with the official SDK (low-level `Server` and the
 * Streamable HTTP server transport, stateless, on loopback). Tools `echo` and `reverse` answer
 * with the server's name so a test sees which upstream served a call; every request's headers
 * are recorded; `authorize` can refuse a request with 401; `close` takes it down.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
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

export async function startMockMcp(name: string): Promise<MockMcp> {
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
  const http = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as AddressInfo).port;
  (mock as { url: string }).url = `http://127.0.0.1:${port}/mcp`;
  mock.close = () =>
    new Promise<void>((r) => {
      http.closeAllConnections();
      http.close(() => r());
    });
  return mock;
}
