/**
 * The pod-shared store for node:cluster workers on the memory backend: with
 * `proxy.workers > 1` a pod must still enforce each configured limit once, so the counters
 * live in the primary process and workers ask it over IPC.
 *
 * - `CounterStoreServer` (primary): serves any number of worker channels against one store and
 *   remembers which worker (owner) holds which grant, so `releaseOwner` can free the slots and
 *   reservations of a worker that died. The store's slot TTL stays the backstop.
 * - `RemoteCounterStore` (worker): a `CounterStore` whose calls are messages; replies are matched
 *   by id; a call unanswered within `timeoutMs` rejects (the gateway then fails open). A grant
 *   that arrives after its acquire timed out is released with rollback at once, so it neither
 *   counts nor holds a slot.
 *
 * The channel is abstract (`send` / `onMessage`); `ipcChannel` adapts a `ChildProcess`, a
 * cluster `Worker` or `process` itself. Messages carry a `aisixRl` tag so other traffic on the
 * same IPC channel is ignored. Commit/release/refresh send only grant ids: the server keeps the
 * original grant, which also makes a duplicate or late settlement a harmless no-op. A refresh
 * also keeps the server's record of the grant (`grantTtlSecs`) for as long as its request runs.
 */
import type { AcquireInput, CounterStore, Grant, Verdict } from './types.js';

export interface MessageChannel {
  send(msg: unknown): void;
  onMessage(fn: (msg: unknown) => void): void;
}

/** Adapts anything with node's IPC shape (`process`, `ChildProcess`, cluster `Worker`). */
export function ipcChannel(p: {
  send?: ((msg: never) => unknown) | undefined;
  on(event: 'message', fn: (msg: unknown) => void): unknown;
}): MessageChannel {
  const send = p.send as ((msg: unknown) => unknown) | undefined;
  return {
    send(msg) {
      // A channel that is closing throws synchronously; the caller's timeout covers it.
      try {
        send?.call(p, msg);
      } catch {}
    },
    onMessage(fn) {
      p.on('message', fn);
    },
  };
}

type Request =
  | { aisixRl: 'req'; id: number; op: 'acquire'; input: AcquireInput }
  | { aisixRl: 'req'; id: number; op: 'commit'; grant: string; tokens: number }
  | { aisixRl: 'req'; id: number; op: 'release'; grant: string; rollback: boolean }
  | { aisixRl: 'req'; id: number; op: 'refresh'; grants: string[] };

type Reply = { aisixRl: 'res'; id: number; verdict?: Verdict; error?: string };

function isRequest(m: unknown): m is Request {
  return typeof m === 'object' && m !== null && (m as { aisixRl?: unknown }).aisixRl === 'req';
}

function isReply(m: unknown): m is Reply {
  return typeof m === 'object' && m !== null && (m as { aisixRl?: unknown }).aisixRl === 'res';
}

export interface CounterStoreServerOptions {
  /**
   * Owned grants neither settled nor refreshed for this long are forgotten (the store reclaims
   * their slots after its own TTL): default 300 s; 0 never (the store never reclaims either).
   * Give it the store's `concurrency_ttl_secs`: a grant forgotten earlier than its slot would
   * make its worker's release a no-op, leaving the slot to the TTL.
   */
  readonly grantTtlSecs?: number;
  readonly now?: () => number;
}

interface Owned {
  readonly grant: Grant;
  readonly at: number;
}

export class CounterStoreServer {
  private readonly owners = new Map<string, Map<string, Owned>>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: CounterStore,
    opts: CounterStoreServerOptions = {},
  ) {
    const ttl = opts.grantTtlSecs ?? 300;
    this.ttlMs = ttl > 0 ? ttl * 1000 : Number.POSITIVE_INFINITY;
    this.now = opts.now ?? Date.now;
  }

  /** Serves one worker's channel; its grants are recorded under `owner` (e.g. the worker id). */
  serve(channel: MessageChannel, owner: string): void {
    channel.onMessage((m) => {
      if (!isRequest(m)) return;
      this.handle(m, owner).then(
        (verdict) =>
          channel.send(
            verdict === undefined ? { aisixRl: 'res', id: m.id } : { aisixRl: 'res', id: m.id, verdict },
          ),
        (err: unknown) => channel.send({ aisixRl: 'res', id: m.id, error: String(err) }),
      );
    });
  }

  /** Grants currently held by `owner` (tests, diagnostics). */
  held(owner: string): number {
    return this.owners.get(owner)?.size ?? 0;
  }

  /** Frees everything `owner` still holds (its worker exited); returns how many grants. */
  async releaseOwner(owner: string): Promise<number> {
    const owned = this.owners.get(owner);
    if (owned === undefined) return 0;
    this.owners.delete(owner);
    await Promise.allSettled([...owned.values()].map((o) => this.store.release(o.grant, false)));
    return owned.size;
  }

  private async handle(m: Request, owner: string): Promise<Verdict | undefined> {
    if (m.op === 'acquire') {
      const verdict = await this.store.acquire(m.input);
      if (verdict.ok) {
        // Looked up after the await: concurrent acquires of a new owner must share one map.
        let owned = this.owners.get(owner);
        if (owned === undefined) {
          owned = new Map();
          this.owners.set(owner, owned);
        }
        const now = this.now();
        this.forgetOld(owned, now);
        owned.set(verdict.grant.id, { grant: verdict.grant, at: now });
      }
      return verdict;
    }
    if (m.op === 'refresh') {
      const owned = this.owners.get(owner);
      if (owned === undefined) return undefined;
      const now = this.now();
      const grants: Grant[] = [];
      for (const id of m.grants) {
        const o = owned.get(id);
        if (o === undefined) continue;
        // Re-inserted with the new time: Map order stays age order for `forgetOld`.
        owned.delete(id);
        owned.set(id, { grant: o.grant, at: now });
        grants.push(o.grant);
      }
      if (grants.length > 0) await this.store.refresh(grants);
      return undefined;
    }
    const owned = this.owners.get(owner);
    const o = owned?.get(m.grant);
    if (o === undefined) return undefined;
    owned?.delete(m.grant);
    if (m.op === 'commit') await this.store.commit(o.grant, m.tokens);
    else await this.store.release(o.grant, m.rollback);
    return undefined;
  }

  /** Map order = acquire order, so expired records are at the head. */
  private forgetOld(owned: Map<string, Owned>, now: number): void {
    for (const [id, o] of owned) {
      if (o.at + this.ttlMs > now) break;
      owned.delete(id);
    }
  }
}

/** Serves `store` on one channel (single worker); further workers: `server.serve(ch, owner)`. */
export function serveCounterStore(
  store: CounterStore,
  channel: MessageChannel,
  owner = 'worker',
): CounterStoreServer {
  const server = new CounterStoreServer(store);
  server.serve(channel, owner);
  return server;
}

interface Pending {
  readonly resolve: (r: Reply) => void;
  readonly reject: (err: Error) => void;
  readonly deadline: number;
  /** Set for acquires: a grant arriving after the timeout must be given back. */
  readonly acquire: boolean;
}

export interface RemoteCounterStoreOptions {
  /** Per call (default 2000 ms). */
  readonly timeoutMs?: number;
  /** The primary store's `concurrency_ttl_secs` (default 300; 0: slots never age out). */
  readonly concurrencyTtlSecs?: number;
}

export class RemoteCounterStore implements CounterStore {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  /** Acquires that timed out: their late grants are released on arrival. */
  private readonly abandoned = new Set<number>();
  private readonly timeoutMs: number;
  readonly slotTtlMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly channel: MessageChannel,
    opts: RemoteCounterStoreOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    const ttl = opts.concurrencyTtlSecs ?? 300;
    this.slotTtlMs = ttl > 0 ? ttl * 1000 : undefined;
    channel.onMessage((m) => {
      if (isReply(m)) this.onReply(m);
    });
  }

  acquire(input: AcquireInput): Promise<Verdict> {
    return this.call({ aisixRl: 'req', id: 0, op: 'acquire', input }, true).then((r) => {
      if (r.verdict === undefined) throw new Error('pod-shared rate-limit store: acquire without a verdict');
      return r.verdict;
    });
  }

  async commit(grant: Grant, tokens: number): Promise<void> {
    await this.call({ aisixRl: 'req', id: 0, op: 'commit', grant: grant.id, tokens }, false);
  }

  async release(grant: Grant, rollback: boolean): Promise<void> {
    await this.call({ aisixRl: 'req', id: 0, op: 'release', grant: grant.id, rollback }, false);
  }

  /** One message for every grant: the server knows them by id and refreshes them in one batch. */
  async refresh(grants: readonly Grant[]): Promise<void> {
    const ids: string[] = [];
    for (const g of grants) if (g.slot) ids.push(g.id);
    if (ids.length === 0) return;
    await this.call({ aisixRl: 'req', id: 0, op: 'refresh', grants: ids }, false);
  }

  private call(req: Request, acquire: boolean): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error('pod-shared rate-limit store is closed'));
    const id = ++this.seq;
    req.id = id;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline: Date.now() + this.timeoutMs, acquire });
      this.arm();
      this.channel.send(req);
    });
  }

  private onReply(m: Reply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) {
      if (this.abandoned.delete(m.id) && m.verdict?.ok === true) {
        // Late grant of a timed-out acquire: the caller already moved on (failed open).
        void this.release(m.verdict.grant, true).catch(() => {});
      }
      return;
    }
    this.pending.delete(m.id);
    if (m.error !== undefined) p.reject(new Error(`pod-shared rate-limit store: ${m.error}`));
    else p.resolve(m);
  }

  /**
   * One timer for all calls instead of one per call: it runs only while calls are pending and
   * expires them in order (same timeout for every call, so Map order = deadline order). It is
   * not unref'd: a pending call is a promise someone awaits, and it must settle.
   */
  private arm(): void {
    if (this.timer !== undefined) return;
    const tick = Math.max(5, Math.min(250, Math.floor(this.timeoutMs / 4)));
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const [id, p] of this.pending) {
        if (p.deadline > now) break;
        this.pending.delete(id);
        if (p.acquire) {
          this.abandoned.add(id);
          // Bound the set: a primary that never answers must not grow it forever.
          if (this.abandoned.size > 10_000) this.abandoned.clear();
        }
        p.reject(new Error(`pod-shared rate-limit store: no answer within ${this.timeoutMs} ms`));
      }
      if (this.pending.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }, tick);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    for (const p of this.pending.values()) p.reject(new Error('pod-shared rate-limit store is closed'));
    this.pending.clear();
  }
}
