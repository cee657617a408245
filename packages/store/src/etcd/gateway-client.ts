/**
 * A thin client for etcd's JSON gRPC-gateway (`/v3/...` over HTTP/1.1, JSON bodies, base64
 * keys and values, int64 as strings), used by the read path (range + watch).
 *
 * Why not `etcd3`'s watcher: after a reconnect during a catch-up of more than 1000 revisions
 * it resumes from the batch's header revision instead of the last event's revision and
 * silently loses events, and on compaction it hides the compact revision. Owning this path
 * keeps the resync rule (load at R, watch from R+1, never resume) under our control.
 *
 * What it does:
 *  - endpoints are tried in order; the one that answered becomes the first choice (fail over
 *    on transport errors only, never on an etcd answer such as "compacted");
 *  - dial timeout = undici connect timeout; request timeout = a deadline on every unary call
 *    (decision 6);
 *  - user/password: `/v3/auth/authenticate` token in `Authorization`, re-authenticated once
 *    on a 401 (expired or revoked token);
 *  - TLS with a CA only (server auth) or with a client certificate (decision 17);
 *  - long-lived streams (watch) go to their own pools so they never hold a connection a
 *    unary call needs.
 * Error messages name the endpoint and path, never the password or the token.
 */
import { Pool } from 'undici';

export interface GatewayTls {
  caCert: string;
  clientCert?: string;
  clientKey?: string;
  serverName?: string;
}

export interface GatewayClientOptions {
  endpoints: string[];
  user?: string;
  password?: string;
  tls?: GatewayTls;
  dialTimeoutMs: number;
  requestTimeoutMs: number;
}

/** An etcd or transport failure. `transport` = the endpoint could not be reached or timed out. */
export class GatewayError extends Error {
  readonly status: number | undefined;
  readonly transport: boolean;
  constructor(message: string, opts: { status?: number; transport: boolean; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.status = opts.status;
    this.transport = opts.transport;
  }
}

export interface OpenStream {
  readonly endpoint: string;
  readonly body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown };
}

/** Keepalive probes on the watch socket catch a peer that vanished without a FIN/RST. */
const STREAM_KEEPALIVE_DELAY_MS = 10_000;

export class GatewayClient {
  readonly #opts: GatewayClientOptions;
  readonly #unary = new Map<string, Pool>();
  readonly #stream = new Map<string, Pool>();
  #preferred = 0;
  /** undefined = not yet authenticated; null = auth not needed (no user, or auth disabled). */
  #token: string | null | undefined;
  #authing: Promise<string | null> | undefined;
  #closed = false;

  constructor(opts: GatewayClientOptions) {
    this.#opts = opts;
    this.#token = opts.user === undefined ? null : undefined;
  }

  /** A unary call (`path` e.g. `/v3/kv/range`) with fail-over, timeout and auth. */
  async call<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.#withFailover(false, path, body, signal);
    return res as T;
  }

  /** Opens a streaming call on the stream pools; the caller owns (and must destroy) the body. */
  async stream(path: string, body: unknown, signal: AbortSignal): Promise<OpenStream> {
    return (await this.#withFailover(true, path, body, signal)) as OpenStream;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#unary.values(), ...this.#stream.values()];
    this.#unary.clear();
    this.#stream.clear();
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }

  async #withFailover(
    streaming: boolean,
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    if (this.#closed) throw new GatewayError('etcd client is closed', { transport: true });
    const n = this.#opts.endpoints.length;
    let lastErr: unknown;
    for (let i = 0; i < n; i++) {
      const idx = (this.#preferred + i) % n;
      const endpoint = this.#opts.endpoints[idx] as string;
      try {
        const out = await this.#authed(endpoint, streaming, path, body, signal);
        this.#preferred = idx;
        return out;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (!(err instanceof GatewayError) || !err.transport) throw err;
        lastErr = err;
      }
    }
    throw lastErr;
  }

  async #authed(
    endpoint: string,
    streaming: boolean,
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const token = await this.#getToken(endpoint, signal);
    try {
      return await this.#send(endpoint, streaming, path, body, token, signal);
    } catch (err) {
      // An expired or revoked token answers 401: authenticate again once and retry.
      if (!(err instanceof GatewayError) || err.status !== 401 || this.#opts.user === undefined) throw err;
      this.#token = undefined;
      const fresh = await this.#getToken(endpoint, signal);
      return await this.#send(endpoint, streaming, path, body, fresh, signal);
    }
  }

  #getToken(endpoint: string, signal?: AbortSignal): Promise<string | null> {
    if (this.#token !== undefined) return Promise.resolve(this.#token);
    if (!this.#authing) {
      const { user, password } = this.#opts;
      this.#authing = (async () => {
        try {
          const res = (await this.#send(
            endpoint,
            false,
            '/v3/auth/authenticate',
            { name: user, password: password ?? '' },
            null,
            signal,
          )) as { token?: string };
          this.#token = res.token ?? null;
          return this.#token;
        } catch (err) {
          // Auth disabled on the server: plain requests work, so carry on without a token.
          if (err instanceof GatewayError && err.status === 412) {
            this.#token = null;
            return null;
          }
          if (err instanceof GatewayError && !err.transport) {
            throw new GatewayError(`etcd authentication failed for user "${user}" at ${endpoint}`, {
              status: err.status,
              transport: false,
            });
          }
          throw err;
        } finally {
          this.#authing = undefined;
        }
      })();
    }
    return this.#authing;
  }

  #pool(endpoint: string, streaming: boolean): Pool {
    const map = streaming ? this.#stream : this.#unary;
    let pool = map.get(endpoint);
    if (!pool) {
      const { tls, dialTimeoutMs, requestTimeoutMs } = this.#opts;
      pool = new Pool(endpoint, {
        connections: streaming ? null : 8,
        connect: {
          timeout: dialTimeoutMs,
          ...(streaming ? { keepAlive: true, keepAliveInitialDelay: STREAM_KEEPALIVE_DELAY_MS } : {}),
          ...(tls
            ? {
                ca: tls.caCert,
                ...(tls.clientCert ? { cert: tls.clientCert } : {}),
                ...(tls.clientKey ? { key: tls.clientKey } : {}),
                ...(tls.serverName ? { servername: tls.serverName } : {}),
              }
            : {}),
        },
        headersTimeout: requestTimeoutMs,
        // Streams are silent for long stretches by design; their liveness is checked by the
        // watcher itself (see watch-stream.ts).
        bodyTimeout: streaming ? 0 : requestTimeoutMs,
      });
      map.set(endpoint, pool);
    }
    return pool;
  }

  async #send(
    endpoint: string,
    streaming: boolean,
    path: string,
    body: unknown,
    token: string | null,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const pool = this.#pool(endpoint, streaming);
    // Unary calls get the request deadline; streams only until their headers arrive
    // (headersTimeout), after which the caller's signal governs them.
    const deadline = streaming ? undefined : AbortSignal.timeout(this.#opts.requestTimeoutMs);
    const signals = [signal, deadline].filter((s): s is AbortSignal => s !== undefined);
    const combined = signals.length === 0 ? undefined : AbortSignal.any(signals);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = token;
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await pool.request({
        method: 'POST',
        path,
        headers,
        body: JSON.stringify(body),
        ...(combined ? { signal: combined } : {}),
      });
    } catch (err) {
      const what = deadline?.aborted
        ? `timed out after ${this.#opts.requestTimeoutMs} ms`
        : signal?.aborted
          ? 'aborted'
          : describe(err);
      throw new GatewayError(`etcd ${endpoint}${path}: ${what}`, { transport: true, cause: err });
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text().catch(() => '');
      const msg = etcdMessage(text) ?? `HTTP ${res.statusCode}`;
      // 502-504 come from the gateway failing to reach its own member: try the next one.
      const transport = res.statusCode >= 502 && res.statusCode <= 504;
      throw new GatewayError(`etcd ${endpoint}${path}: ${msg}`, { status: res.statusCode, transport });
    }
    if (streaming) return { endpoint, body: res.body } satisfies OpenStream;
    try {
      return await res.body.json();
    } catch (err) {
      throw new GatewayError(`etcd ${endpoint}${path}: bad response body (${describe(err)})`, {
        transport: true,
        cause: err,
      });
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

/** The gateway's error body is `{"error": "...", "message": "...", "code": n}`. */
export function etcdMessage(text: string): string | undefined {
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof j.message === 'string' && j.message) return j.message;
    if (typeof j.error === 'string' && j.error) return j.error;
    if (j.error && typeof j.error === 'object') {
      const m = (j.error as { message?: unknown }).message;
      if (typeof m === 'string') return m;
    }
  } catch {
    // not JSON: fall through
  }
  return undefined;
}
