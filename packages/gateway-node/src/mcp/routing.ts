/**
 * Names on the two endpoints (agents-and-jobs §2.4, §2.5): the ACL-filtered tool lists (an
 * upstream that fails to list is skipped with a warning) and the server + bare tool a
 * `tools/call` name resolves to, with the catalogue errors of a name that resolves to nothing.
 */
import { heldLimit } from '../jobs/guard.js';
import type { GatewayRuntime } from '../runtime.js';
import { upstreamNet } from '../upstream/net.js';
import type { ToolAcl } from './acl.js';
import type { McpGateway, McpServerView } from './compile.js';
import { notAvailable, RpcError } from './rpc-error.js';
import { listServerTools } from './tools.js';
import { sanitize } from './upstream.js';

export const SEP = '__';

async function listOrSkip(rt: GatewayRuntime, s: McpServerView) {
  try {
    return await listServerTools(s, upstreamNet(rt.upstreams.base), heldLimit(rt));
  } catch (e) {
    rt.logger.warn(
      { server: s.name, err: sanitize(e) },
      'MCP server failed to list tools; its tools are skipped',
    );
    return [];
  }
}

export async function aggregatedList(rt: GatewayRuntime, g: McpGateway, acl: ToolAcl) {
  const servers = [...g.servers.values()];
  const lists = await Promise.all(servers.map((s) => listOrSkip(rt, s)));
  const out = [];
  for (let i = 0; i < servers.length; i++) {
    const prefix = `${(servers[i] as McpServerView).name}${SEP}`;
    for (const t of lists[i] ?? []) {
      const name = prefix + t.name;
      if (acl(name)) out.push({ ...t, name });
    }
  }
  return out;
}

/** A bare name the scoped call side would not route back to this tool (§2.5). */
function needsPrefix(g: McpGateway, bare: string): boolean {
  const i = bare.indexOf(SEP);
  return i !== -1 && g.registered.has(bare.slice(0, i));
}

export async function scopedList(rt: GatewayRuntime, g: McpGateway, acl: ToolAcl, s: McpServerView) {
  const out = [];
  for (const t of await listOrSkip(rt, s)) {
    const full = `${s.name}${SEP}${t.name}`;
    if (acl(full)) out.push({ ...t, name: needsPrefix(g, t.name) ? full : t.name });
  }
  return out;
}

export interface Target {
  readonly server: McpServerView;
  readonly tool: string;
}

export function aggregatedTarget(g: McpGateway, name: string, acl: ToolAcl): Target {
  const i = name.indexOf(SEP);
  if (i === -1) throw new RpcError(-32602, `tool name '${name}' is missing a 'server__tool' prefix`);
  if (!acl(name)) throw notAvailable(name);
  const serverName = name.slice(0, i);
  const server = g.servers.get(serverName);
  if (server === undefined) throw new RpcError(-32602, `unknown MCP server '${serverName}'`);
  return { server, tool: name.slice(i + SEP.length) };
}

export function scopedTarget(g: McpGateway, s: McpServerView, name: string, acl: ToolAcl): Target {
  let bare = name;
  const own = `${s.name}${SEP}`;
  if (name.startsWith(own)) bare = name.slice(own.length);
  else if (needsPrefix(g, name)) throw notAvailable(name);
  if (!acl(own + bare)) throw notAvailable(name);
  return { server: s, tool: bare };
}
