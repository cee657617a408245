/**
 * HTTP for the gateway's non-model upstream clients (MCP upstreams, OAuth token endpoints,
 * OpenAPI tools, JWKS and OIDC discovery): fetch over the gateway's upstream dispatcher, so `upstream.*` (connect timeout, keepalive,
 * pooling, `upstream.tls` trust, client certificate, verify) applies as on the model path
 * (agents-and-jobs §1.2). Redirects are never followed: a 3xx is a failure.
 */
import { type Dispatcher, fetch as undiciFetch } from 'undici';

/** The fetch shape the MCP SDK transport and our own clients use. */
export type Net = (url: string | URL, init?: RequestInit) => Promise<Response>;

const nets = new WeakMap<Dispatcher, Net>();

/** The `Net` over `agent` (one per dispatcher). */
export function upstreamNet(agent: Dispatcher): Net {
  let n = nets.get(agent);
  if (n === undefined) {
    n = netOver(agent);
    nets.set(agent, n);
  }
  return n;
}

function netOver(agent: Dispatcher): Net {
  return async (url, init) => {
    // Bodies are strings (JSON, forms) and headers records or a `Headers` (the SDK's), which
    // undici reads alike; the global and undici fetch types differ only in their declarations.
    const res = await undiciFetch(url, {
      method: init?.method,
      headers: init?.headers as Record<string, string> | undefined,
      body: init?.body as string | undefined,
      signal: init?.signal,
      redirect: 'manual',
      dispatcher: agent,
    });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new Error(`upstream answered a redirect (HTTP ${res.status}); redirects are not followed`);
    }
    return res as Response;
  };
}
