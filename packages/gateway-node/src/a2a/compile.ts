/**
 * The A2A agents of one config snapshot (agents-and-jobs §3, control-plane §3.11): enabled
 * agents by name, compiled once per snapshot, so an agent added, disabled or edited in the
 * store applies on the next request and nothing is kept between snapshots.
 */
import { type ConfigSnapshot, timerMs } from '@aisix/core';
import type { Logger } from 'pino';

export const DEFAULT_TIMEOUT_MS = 30_000;

export interface AgentView {
  readonly name: string;
  /** The agent's JSON-RPC endpoint (undefined when unusable). */
  readonly url: URL | undefined;
  /** Why calls to this agent cannot be made (bad URL or credential); undefined when they can. */
  readonly unusable: string | undefined;
  readonly protocolVersion: '1.0' | '0.3';
  /** The credential header sent to the agent (none: undefined). Never logged. */
  readonly auth: { readonly name: string; readonly value: string } | undefined;
  readonly timeoutMs: number;
}

interface StoredAgent {
  readonly name: string;
  readonly url: string;
  readonly protocol_version?: '1.0' | '0.3' | undefined;
  readonly auth_type?: 'none' | 'bearer' | 'api_key' | undefined;
  readonly secret?: string | undefined;
  readonly timeout_ms?: number | undefined;
  readonly enabled?: boolean | undefined;
}

const compiled = new WeakMap<ConfigSnapshot, ReadonlyMap<string, AgentView>>();

/** (agent, url) pairs already warned about in this process. */
const cleartextWarned = new Set<string>();

function parseUrl(raw: string): URL | undefined {
  try {
    const u = new URL(raw.trim());
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : undefined;
  } catch {
    return undefined;
  }
}

function authHeader(a: StoredAgent): AgentView['auth'] {
  const secret = a.secret ?? '';
  if (a.auth_type === 'bearer') return { name: 'authorization', value: `Bearer ${secret}` };
  if (a.auth_type === 'api_key') return { name: 'x-api-key', value: secret };
  return undefined;
}

/** Visible ASCII and tab only: anything else would fail inside the HTTP client. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

function view(a: StoredAgent, logger: Logger): AgentView {
  const url = parseUrl(a.url);
  const auth = authHeader(a);
  const unusable =
    url === undefined
      ? 'the agent URL is not an http(s) URL'
      : auth !== undefined && !HEADER_VALUE.test(auth.value)
        ? 'the stored credential is not a valid header value'
        : undefined;
  if (unusable !== undefined) logger.warn({ agent: a.name }, `A2A agent: ${unusable}; calls fail`);
  if (auth !== undefined && url?.protocol === 'http:') {
    const k = `${a.name}\u0000${url.href}`;
    if (!cleartextWarned.has(k)) {
      cleartextWarned.add(k);
      logger.warn(
        { agent: a.name, url: url.href },
        'A2A agent: the gateway-held upstream credential is sent over cleartext http; serve the agent over https',
      );
    }
  }
  return {
    name: a.name,
    url: unusable === undefined ? url : undefined,
    unusable,
    protocolVersion: a.protocol_version === '0.3' ? '0.3' : '1.0',
    auth,
    // A u64: past a timer's range it means "practically never", not 1 ms.
    timeoutMs: timerMs(a.timeout_ms ?? DEFAULT_TIMEOUT_MS),
  };
}

/** Enabled agents by name (a duplicate name: the first in snapshot order wins). */
export function a2aAgents(snapshot: ConfigSnapshot, logger: Logger): ReadonlyMap<string, AgentView> {
  let m = compiled.get(snapshot);
  if (m !== undefined) return m;
  const agents = new Map<string, AgentView>();
  for (const r of snapshot.byId('a2a_agents').values()) {
    const a = r.value as StoredAgent;
    if (a.enabled === false) continue;
    if (agents.has(a.name)) {
      logger.warn({ agent: a.name, id: r.id }, 'duplicate A2A agent name; the first one is used');
      continue;
    }
    agents.set(a.name, view(a, logger));
  }
  m = agents;
  compiled.set(snapshot, m);
  return m;
}
