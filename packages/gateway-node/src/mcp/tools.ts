/**
 * Tools of one upstream server, whatever its type: `type: mcp` goes to the MCP client
 * (`upstream.ts`). The one seam where `type: openapi` servers plug in.
 */
import type { McpServerView } from './compile.js';
import { type CallResult, callTool, listTools, type ToolInfo } from './upstream.js';

export function listServerTools(s: McpServerView): Promise<ToolInfo[]> {
  if (s.type === 'openapi') return Promise.reject(new Error('openapi MCP servers are not supported yet'));
  return listTools(s);
}

export function callServerTool(
  s: McpServerView,
  tool: string,
  args: Record<string, unknown> | undefined,
): Promise<CallResult> {
  if (s.type === 'openapi') return Promise.reject(new Error('openapi MCP servers are not supported yet'));
  return callTool(s, tool, args);
}
