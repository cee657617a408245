/**
 * The caller's side of the gateway's MCP endpoint in tests: an official SDK client connected
 * over Streamable HTTP with a Bearer key, and readers for what a tool call answers.
 */
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** An SDK client named `name`, connected to `url` (the gateway's `/mcp`) with `token` as Bearer. */
export async function connectMcp(url: string, token: string, name: string): Promise<Client> {
  const c = new Client({ name, version: '1' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return c;
}

/** A tool result's text blocks, joined by newlines. */
export const textOf = (r: Awaited<ReturnType<Client['callTool']>>) =>
  (r.content as { type: string; text: string }[]).map((b) => b.text).join('\n');

/** The error `p` rejects with (with its JSON-RPC code, if any); fails the test if it resolves. */
export async function failure(p: Promise<unknown>): Promise<Error & { code?: number }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: number };
  }
  assert.fail('expected a failure');
}
