/**
 * Tools of one upstream server, whatever its type: `type: mcp` goes to the MCP client
 * (`upstream.ts`), `type: openapi` to the generated HTTP tools (`openapi.ts`). Every upstream
 * answer is read up to `maxBody` bytes; past it the operation fails with `UpstreamTooLarge`.
 */

import { cappedNet, type Net } from '../upstream/net.js';
import type { McpServerView } from './compile.js';
import { callOpenApi, openApiTools } from './openapi.js';
import { type CallResult, callTool, listTools, type ToolInfo } from './upstream.js';

export async function listServerTools(s: McpServerView, net: Net, maxBody: number): Promise<ToolInfo[]> {
  if (s.type === 'openapi')
    return openApiTools(s).map((t) => ({
      name: t.name,
      description: t.description,
      inputSchema: t.inputSchema,
    }));
  return listTools(s, net, maxBody);
}

export function callServerTool(
  s: McpServerView,
  tool: string,
  args: Record<string, unknown> | undefined,
  net: Net,
  maxBody: number,
): Promise<CallResult> {
  return s.type === 'openapi'
    ? callOpenApi(s, tool, args, cappedNet(net, maxBody))
    : callTool(s, tool, args, net, maxBody);
}
