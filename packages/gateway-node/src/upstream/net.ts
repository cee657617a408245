/**
 * HTTP for the gateway's non-model upstream clients (MCP upstreams, OAuth token endpoints,
 * OpenAPI tools, JWKS and OIDC discovery): fetch over the gateway's upstream dispatcher, so `upstream.*` (connect timeout, keepalive,
 * pooling, `upstream.tls` trust, client certificate, verify) applies as on the model path
 * (agents-and-jobs §1.2). Redirects are never followed: a 3xx is a failure. `cappedNet` bounds
 * what one answer may carry.
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

/** An upstream answer whose body is larger than the bound its reader set. */
export class UpstreamTooLarge extends Error {
  constructor(readonly max: number) {
    super(`the upstream response body exceeds ${max} bytes`);
  }
}

/**
 * `net` whose answers carry at most `max` body bytes, however they are read (`text()`, `json()`,
 * the stream): a declared `Content-Length` over it fails the fetch before any byte is read; a
 * body that grows past it fails the read with `UpstreamTooLarge` and cancels the upstream body,
 * which aborts the download. `onOver` hears of it first, for a caller that does not read the
 * body itself (the MCP SDK, which swallows a broken event stream).
 */
export function cappedNet(net: Net, max: number, onOver?: (e: UpstreamTooLarge) => void): Net {
  const over = () => {
    const e = new UpstreamTooLarge(max);
    onOver?.(e);
    return e;
  };
  return async (url, init) => {
    const res = await net(url, init);
    if (res.body === null) return res;
    if (Number(res.headers.get('content-length') ?? 0) > max) {
      await res.body.cancel().catch(() => {});
      throw over();
    }
    let size = 0;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          size += chunk.byteLength;
          if (size > max) out.error(over());
          else out.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
