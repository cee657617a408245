/**
 * The gateway as an MCP client of `type: mcp` servers (agents-and-jobs §2.8), with the
 * official SDK client over Streamable HTTP: a fresh session per operation (a `tools/list` leg,
 * a `tools/call`), closed after it; nothing kept between requests. `timeout_ms` bounds the
 * session setup (token minting included) and, separately, the request. Redirects are refused.
 * The gateway-held credential goes on every upstream request; the caller's never does.
 */
import { NESTED_TOO_DEEP, nestedTooDeep } from '@aisix/core';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { cappedNet, type Net } from '../upstream/net.js';
import { scrubSentCredentials } from '../upstream/scrub.js';
import type { McpServerView } from './compile.js';
import { type OAuthClient, oauthTokens } from './oauth.js';

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * A server's `timeout_ms` (default 30 s). Already within a timer's range: the snapshot's server
 * views are capped with `timerMs` when compiled (`compile.ts`).
 */
export const timeoutOf = (s: McpServerView): number => s.timeout_ms ?? DEFAULT_TIMEOUT_MS;

/**
 * The SDK (with zod, ajv and their schemas: ~1.3 MB of source, several MB of heap) is loaded on
 * the first upstream MCP session, not at startup: most gateways have no `type: mcp` server.
 */
let sdk:
  | Promise<
      [
        typeof import('@modelcontextprotocol/sdk/client/index.js'),
        typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
        typeof import('@modelcontextprotocol/sdk/types.js'),
      ]
    >
  | undefined;
const loadSdk = () =>
  (sdk ??= Promise.all([
    import('@modelcontextprotocol/sdk/client/index.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]));

/** A tool as advertised downstream: only name, description and inputSchema survive. */
export interface ToolInfo {
  readonly name: string;
  readonly description?: string | undefined;
  readonly inputSchema: Record<string, unknown>;
}

export interface CallResult {
  readonly content: unknown[];
  readonly structuredContent?: unknown;
  readonly isError?: boolean;
}

/** Visible ASCII and tab only: anything else would fail inside fetch with the value quoted. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/**
 * `value` when it can travel as a header value; otherwise an error that names `what`, never the
 * value (the fetch's own error would quote it, and that message is logged).
 */
export function headerValue(value: string, what: string): string {
  if (!HEADER_VALUE.test(value)) throw new Error(`${what} is not a valid header value`);
  return value;
}

function oauthClient(s: McpServerView): OAuthClient {
  if (s.client_id === undefined || s.token_url === undefined || s.secret === undefined)
    throw new Error('oauth2 server is missing client_id, secret or token_url');
  return { tokenUrl: s.token_url, clientId: s.client_id, secret: s.secret, scopes: s.scopes ?? [] };
}

async function authHeaders(s: McpServerView, timeoutMs: number, net: Net): Promise<Record<string, string>> {
  const secret = s.secret ?? '';
  switch (s.auth_type) {
    case 'none':
      return {};
    case 'bearer':
      return { authorization: `Bearer ${headerValue(secret, 'the stored secret')}` };
    case 'api_key':
      return { 'x-api-key': headerValue(secret, 'the stored secret') };
    case 'oauth2': {
      const token = await oauthTokens.token(oauthClient(s), timeoutMs, net);
      return { authorization: `Bearer ${headerValue(token, 'the minted token')}` };
    }
  }
}

/** The upstream fetch (no redirects) that also forgets the OAuth token on a 401. */
function sessionFetch(s: McpServerView, net: Net): Net {
  return async (input, init) => {
    const res = await net(input, init);
    if (res.status === 401 && s.auth_type === 'oauth2') oauthTokens.drop(oauthClient(s));
    return res;
  };
}

/**
 * Runs `op` in a fresh session. Every upstream answer of the session (token endpoint included)
 * carries at most `maxBody` bytes: past it the read is aborted and the operation fails at once
 * with `UpstreamTooLarge` (the SDK would only report a broken event stream to `onerror` and
 * leave the request waiting for its deadline).
 */
async function withSession<T>(
  s: McpServerView,
  upstream: Net,
  maxBody: number,
  op: (c: Client, timeoutMs: number) => Promise<T>,
): Promise<T> {
  const timeoutMs = timeoutOf(s);
  const setupDeadline = AbortSignal.timeout(timeoutMs);
  const overflow = new AbortController();
  const net = cappedNet(upstream, maxBody, (e) => overflow.abort(e));
  const headers = await authHeaders(s, timeoutMs, net);
  const [{ Client }, { StreamableHTTPClientTransport }] = await loadSdk();
  const transport = new StreamableHTTPClientTransport(new URL(s.url), {
    requestInit: { headers },
    fetch: sessionFetch(s, net),
  });
  const client = new Client({ name: 'aisix-mcp-gateway', version: '1' }, { capabilities: {} });
  try {
    // The deadline covers the whole handshake: the SDK bounds only the `initialize` request,
    // not the `notifications/initialized` POST after it.
    await beforeDeadline(
      client.connect(transport, { timeout: timeoutMs, signal: setupDeadline }),
      AbortSignal.any([setupDeadline, overflow.signal]),
    );
    return await beforeDeadline(op(client, timeoutMs), overflow.signal);
  } catch (e) {
    // The SDK quotes the upstream's error body, which may echo the credential sent with it.
    if (e instanceof Error)
      e.message = scrubSentCredentials(e.message, [s.secret, ...Object.values(headers)]);
    throw e;
  } finally {
    // Ends the upstream session (DELETE when one was issued), within the deadline: `close`
    // aborts a teardown the upstream leaves unanswered. Failures there change nothing.
    if (transport.sessionId !== undefined) await endSession(transport, timeoutMs);
    await client.close().catch(() => {});
  }
}

/** `p`, or a rejection with the signal's reason once it aborts (the caller then closes). */
function beforeDeadline<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function endSession(
  transport: { terminateSession(): Promise<void> },
  timeoutMs: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((r) => {
    timer = setTimeout(r, timeoutMs);
  });
  await Promise.race([transport.terminateSession().catch(() => {}), deadline]);
  clearTimeout(timer);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A listed tool as advertised downstream, or undefined for an entry without a string name. The
 * input schema must be an object schema (MCP 2025-11-25 `Tool.inputSchema`, which the callers'
 * SDKs enforce): a missing or non-object one becomes `{"type":"object"}`, an object one
 * without `type` gains it; other fields (`outputSchema`, `annotations`...) are dropped.
 */
function advertised(t: unknown): ToolInfo | undefined {
  if (!isObject(t) || typeof t.name !== 'string') return undefined;
  const schema = isObject(t.inputSchema) ? t.inputSchema : {};
  // A schema nested past the JSON bound cannot be re-encoded for the caller: the tool is skipped.
  if (nestedTooDeep(schema)) return undefined;
  return {
    name: t.name,
    inputSchema: schema.type === undefined ? { type: 'object', ...schema } : schema,
    ...(typeof t.description === 'string' ? { description: t.description } : {}),
  };
}

export function listTools(s: McpServerView, net: Net, maxBody: number): Promise<ToolInfo[]> {
  return withSession(s, net, maxBody, async (c, timeout) => {
    const { ResultSchema } = (await loadSdk())[2];
    const out: ToolInfo[] = [];
    let cursor: string | undefined;
    // Upstream pages are followed so downstream sees one page (§2.3). The result is read
    // loosely, tool by tool (the SDK's `listTools` refuses the whole page over one odd tool):
    // an entry without a name is skipped, the server's other tools stay listed (§2.4).
    for (let page = 0; page < 100; page++) {
      const r = await c.request(
        { method: 'tools/list', ...(cursor === undefined ? {} : { params: { cursor } }) },
        ResultSchema,
        { timeout },
      );
      if (!Array.isArray(r.tools)) throw new Error('tools/list result has no tools array');
      for (const t of r.tools) {
        const tool = advertised(t);
        if (tool !== undefined) out.push(tool);
      }
      cursor = typeof r.nextCursor === 'string' ? r.nextCursor : undefined;
      if (cursor === undefined) break;
    }
    return out;
  });
}

export function callTool(
  s: McpServerView,
  name: string,
  args: Record<string, unknown> | undefined,
  net: Net,
  maxBody: number,
): Promise<CallResult> {
  return withSession(s, net, maxBody, async (c, timeout) => {
    let r: Awaited<ReturnType<typeof c.callTool>>;
    try {
      r = await c.callTool({ name, ...(args !== undefined ? { arguments: args } : {}) }, undefined, {
        timeout,
      });
    } catch (e) {
      // The SDK checks the result against the MCP schema: a result that fails it is content the
      // upstream sent, not a failure to reach it (agents-and-jobs §2.11).
      const issues = (e as { issues?: { path?: unknown[]; message?: string }[] } | null)?.issues;
      if (Array.isArray(issues) && issues.length > 0) {
        const first = issues[0];
        const at = Array.isArray(first?.path) ? first.path.join('.') : '';
        throw new MalformedToolContent(sanitize(`${at}${at ? ': ' : ''}${first?.message ?? 'invalid'}`));
      }
      throw e;
    }
    if (!Array.isArray(r.content)) throw new MalformedToolContent('the result has no content array');
    // Re-encoded for the caller: past the JSON bound, JSON.stringify would overflow the stack.
    if (nestedTooDeep(r.content) || nestedTooDeep(r.structuredContent))
      throw new MalformedToolContent(`the result is ${NESTED_TOO_DEEP}`);
    return {
      content: r.content,
      ...(r.structuredContent !== undefined ? { structuredContent: r.structuredContent } : {}),
      ...(r.isError !== undefined ? { isError: r.isError === true } : {}),
    };
  });
}

/** A tools/call result that is not valid MCP content; the message says where (never values). */
export class MalformedToolContent extends Error {}

/** Upstream error text for the log: control characters replaced, at most 256 characters. */
export function sanitize(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 256);
}
