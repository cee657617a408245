/**
 * The MCP gateway of one config snapshot (agents-and-jobs §2): the enabled upstream servers in
 * snapshot order, every registered server name (enabled or not: the scoped endpoint refuses
 * foreign prefixes of disabled servers too) and the enabled tool policies. Compiled once per
 * snapshot, so a server or policy change applies on the next request and nothing else is kept.
 */
import { type ConfigSnapshot, timerMs } from '@aisix/core';
import type { Logger } from 'pino';

export type AuthType = 'none' | 'bearer' | 'api_key' | 'oauth2';

export interface McpServerView {
  readonly name: string;
  readonly url: string;
  readonly type: 'mcp' | 'openapi';
  readonly auth_type: AuthType;
  readonly secret?: string | undefined;
  readonly client_id?: string | undefined;
  readonly token_url?: string | undefined;
  readonly scopes?: readonly string[] | undefined;
  readonly api_key_header?: string | undefined;
  readonly spec?: Readonly<Record<string, unknown>> | undefined;
  readonly timeout_ms?: number | undefined;
  readonly enabled?: boolean | undefined;
}

export interface PolicyRow {
  readonly id: string;
  readonly mode: 'none' | 'selected' | 'all';
  readonly scope: 'env' | 'team';
  readonly scope_ref?: string | undefined;
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

export interface McpGateway {
  /** Enabled servers by name, in snapshot order (a duplicate name: the first wins). */
  readonly servers: ReadonlyMap<string, McpServerView>;
  /** Every registered server name, enabled or not. */
  readonly registered: ReadonlySet<string>;
  /** Enabled policies sorted by id (the lowest id governs its scope). */
  readonly policies: readonly PolicyRow[];
}

const compiled = new WeakMap<ConfigSnapshot, McpGateway>();

/** Findings already logged in this process: (server, finding, url) once each (§2.10). */
const cleartextWarned = new Set<string>();

const cleartext = (url: string | undefined) => url?.trimStart().toLowerCase().startsWith('http://') === true;

function warnCleartext(logger: Logger, s: McpServerView): void {
  const findings: [string, string][] = [];
  if (s.auth_type !== 'none' && cleartext(s.url))
    findings.push(['the gateway-held upstream credential', s.url]);
  if (s.auth_type === 'oauth2' && s.token_url !== undefined && cleartext(s.token_url))
    findings.push(['the OAuth client secret', s.token_url]);
  for (const [what, url] of findings) {
    const k = `${s.name}\u0000${what}\u0000${url}`;
    if (cleartextWarned.has(k)) continue;
    cleartextWarned.add(k);
    logger.warn(
      { server: s.name, url },
      `MCP server: ${what} is sent over cleartext http; serve the upstream over https`,
    );
  }
}

export function mcpGateway(snapshot: ConfigSnapshot, logger: Logger): McpGateway {
  let g = compiled.get(snapshot);
  if (g !== undefined) return g;
  const servers = new Map<string, McpServerView>();
  const registered = new Set<string>();
  for (const r of snapshot.byId('mcp_servers').values()) {
    const s = r.value as McpServerView;
    registered.add(s.name);
    if (s.enabled === false) continue;
    if (servers.has(s.name)) {
      logger.warn({ server: s.name, id: r.id }, 'duplicate MCP server name; the first one is used');
      continue;
    }
    // `timeout_ms` is a u64: past a timer's range it means "practically never", not 1 ms.
    const timeout = s.timeout_ms === undefined ? undefined : timerMs(s.timeout_ms);
    servers.set(s.name, timeout === s.timeout_ms ? s : { ...s, timeout_ms: timeout });
    warnCleartext(logger, s);
  }
  const policies: PolicyRow[] = [];
  for (const r of snapshot.byId('mcp_policies').values()) {
    const p = r.value as Omit<PolicyRow, 'id' | 'allow' | 'deny'> & {
      allow?: string[];
      deny?: string[];
      enabled?: boolean;
    };
    if (p.enabled === false) continue;
    policies.push({
      id: r.id,
      mode: p.mode,
      scope: p.scope,
      scope_ref: p.scope_ref,
      allow: p.allow ?? [],
      deny: p.deny ?? [],
    });
  }
  policies.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  g = { servers, registered, policies };
  compiled.set(snapshot, g);
  return g;
}
