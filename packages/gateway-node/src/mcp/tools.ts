/**
 * Tools of one upstream server, whatever its type: `type: mcp` goes to the MCP client
 * (`upstream.ts`), `type: openapi` to the generated HTTP tools (`openapi.ts`).
 */

import type { Net } from '../upstream/net.js';
import type { McpServerView } from './compile.js';
import { callOpenApi, openApiTools } from './openapi.js';
import { type CallResult, callTool, listTools, type ToolInfo } from './upstream.js';

export async function listServerTools(s: McpServerView, net: Net): Promise<ToolInfo[]> {
  if (s.type === 'openapi')
    return openApiTools(s).map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: t.inputSchema,
    }));
  return listTools(s, net);
}

export function callServerTool(
  s: McpServerView,
  tool: string,
  args: Record<string, unknown> | undefined,
  net: Net,
): Promise<CallResult> {
  return s.type === 'openapi' ? callOpenApi(s, tool, args, net) : callTool(s, tool, args, net);
}
