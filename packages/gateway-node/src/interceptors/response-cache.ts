/**
 * The response cache on the request lifecycle (data-plane §10): the interceptor that picks the
 * request's cache policy (`@aisix/cache`, most specific wins), answers a hit without an upstream
 * call (`x-aisix-cache: hit`, exact or semantic layer), and on a miss records what the caller
 * received (the JSON body, or the event stream's bytes in the caller's dialect) to store it
 * once the response has completed. A streamed request is therefore served from the cache as a
 * replayed stream (the reference never caches streams; ours keeps the two kinds as separate
 * entries, because the stream flag is part of the key).
 *
 * `Cache-Control: no-cache` skips the read (`x-aisix-cache: bypass`) but still writes;
 * `no-store` skips the write. A store error is a miss, logged (throttled) and counted, never a
 * failed request. A policy on the `redis` backend without `cache.redis` caches nothing (never
 * silently memory); the semantic layer runs on the memory backend only (Debian's Redis has no
 * vector search), which the policy warnings say.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import {
  type CacheEntry,
  type CacheHit,
  type CacheKeyInput,
  type CachePlan,
  type CacheStore,
  type CompiledCachePolicy,
  cacheKey,
  compileCachePlan,
  type EndpointFamily,
  localCacheKey,
  MemoryCacheStore,
  SemanticIndex,
  scopeKey,
  semanticText,
} from '@aisix/cache';
import type { Usage } from '@aisix/providers';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { CacheUsage, RequestContext, RouteKind } from '../pipeline/context.js';
import type { Answer, Begin, Interceptor, RequestFacts } from '../pipeline/lifecycle.js';
import type { Outcome, Scope, StreamTap } from '../pipeline/scopes.js';
import type { GatewayRuntime } from '../runtime.js';
import { type Embedding, embedText } from './embed.js';

export interface CacheStores {
  /** This process's store (always present). */
  readonly memory: CacheStore;
  /** The shared store, when `cache.redis` is configured. */
  readonly redis?: CacheStore | undefined;
}

export interface ResponseCacheDeps {
  readonly stores: CacheStores;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** For the semantic layer's embedding calls. */
  readonly runtime: () => GatewayRuntime;
}

/** Route kinds whose answers are cached, and their key family. */
const FAMILY: Partial<Record<RouteKind, EndpointFamily>> = {
  chat: 'chat',
  completions: 'completions',
  embeddings: 'embeddings',
  messages: 'messages',
  responses: 'responses',
};

/** Recorded answers beyond this are not stored (the stores cap entries at 1 MiB too). */
const MAX_RECORD_BYTES = 1024 * 1024;

interface Directives {
  readonly noCache: boolean;
  readonly noStore: boolean;
}

const NO_DIRECTIVES: Directives = Object.freeze({ noCache: false, noStore: false });
const NO_CACHE: Directives = Object.freeze({ noCache: true, noStore: false });

function directives(v: string | string[] | undefined): Directives {
  // The usual headers (none, or a lone `no-cache`) without lowercasing and splitting.
  if (v === undefined || v === '') return NO_DIRECTIVES;
  if (v === 'no-cache') return NO_CACHE;
  const s = (Array.isArray(v) ? v.join(',') : v).toLowerCase();
  if (s === '') return NO_DIRECTIVES;
  let noCache = false;
  let noStore = false;
  for (const part of s.split(',')) {
    const t = part.trim();
    if (t === 'no-cache') noCache = true;
    else if (t === 'no-store') noStore = true;
  }
  return { noCache, noStore };
}

function savedUsage(u: Usage | undefined): CacheEntry['usage'] {
  return u === undefined
    ? undefined
    : {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
        total_tokens: u.total_tokens,
      };
}

export function responseCacheInterceptor(d: ResponseCacheDeps): Interceptor<CachePlan> {
  const semantic = new SemanticIndex();
  const warned = new Set<string>();
  const warnOnce = (msg: string, fields: object = {}) => {
    if (warned.has(msg) || warned.size >= 1000) return;
    warned.add(msg);
    d.logger.warn(fields, msg);
  };
  let failures = 0;
  const storeFailed = (op: string, err: unknown) => {
    d.metrics.governance.redisFailure(op);
    if (failures++ % 1000 === 0)
      d.logger.warn(
        { op, err: String(err), failures },
        'response cache store call failed; treated as a miss',
      );
  };

  const storeOf = (p: CompiledCachePolicy): CacheStore | undefined => {
    if (p.backend === 'memory') return d.stores.memory;
    if (d.stores.redis !== undefined) return d.stores.redis;
    warnOnce(
      `cache policy "${p.name}" uses the redis backend but no cache.redis is configured: its requests are not cached`,
      { policy_id: p.id },
    );
    return undefined;
  };

  return {
    name: 'response-cache',
    afterPlan: true,
    compile(snapshot) {
      const plan = compileCachePlan(snapshot);
      if (plan === undefined) return undefined;
      for (const w of plan.warnings) warnOnce(w);
      semantic.retainPolicies(plan.policies.map((p) => p.id));
      return plan;
    },
    begin(plan, f) {
      const family = FAMILY[f.route.kind];
      const ctx = f.ctx;
      if (family === undefined || ctx.apiKey === undefined) return undefined;
      // Ensembles are never cached (agents-and-jobs §8.1: each request is a fresh synthesis).
      if (ctx.model?.value.ensemble !== undefined) return undefined;
      const policy = plan.select(ctx.requestedModel ?? '', ctx.apiKey.id);
      if (policy === undefined) return undefined;
      const store = storeOf(policy);
      if (store === undefined) return undefined;
      // The outcome is recorded only for what reads it (the trace, usage events); the lookup's
      // time covers the key and the read. -1: nothing reads it.
      const t0 = ctx.trace !== undefined || d.runtime().usage.active ? performance.now() : -1;
      const cc = directives(ctx.req.headers['cache-control']);
      const input: CacheKeyInput = {
        endpoint: family,
        stream: ctx.stream,
        model: ctx.requestedModel ?? '',
        body: f.body,
        policy,
        apiKeyId: ctx.apiKey.id,
      };
      let key: string;
      try {
        // The memory store keeps short keys as their serialization (no hash: `localCacheKey`).
        key = store === d.stores.memory ? localCacheKey(input) : cacheKey(input);
      } catch {
        return undefined; // a body too deeply nested to fingerprint is not cached
      }
      const scope = new CacheScope(policy, store, key, cc.noCache, cc.noStore, semantic, storeFailed);
      if (cc.noCache) {
        d.metrics.governance.cacheRequest(policy.name, 'bypass');
        decided(ctx, t0, policy, 'bypass');
        return { scope };
      }
      // The memory store answers at once: a hit or a plain miss costs no promise.
      if (store instanceof MemoryCacheStore) {
        const exact = store.getSync(key);
        if (exact !== undefined) return hit(ctx, t0, policy, exact);
        if (policy.semantic === undefined) return miss(ctx, t0, policy, scope);
        return lookup(policy, store, key, input, scope, f, false, t0);
      }
      return lookup(policy, store, key, input, scope, f, true, t0);
    },
  };

  function hit(ctx: RequestContext, t0: number, policy: CompiledCachePolicy, exact: CacheHit): Begin {
    d.metrics.governance.cacheRequest(policy.name, 'hit_exact');
    decided(ctx, t0, policy, 'hit', exact.entry, 'exact');
    return { answer: hitAnswer(exact.entry, 'exact') };
  }

  function miss(ctx: RequestContext, t0: number, policy: CompiledCachePolicy, scope: CacheScope): Begin {
    d.metrics.governance.cacheRequest(policy.name, 'miss');
    decided(ctx, t0, policy, 'miss');
    return { scope };
  }

  async function lookup(
    policy: CompiledCachePolicy,
    store: CacheStore,
    key: string,
    input: CacheKeyInput,
    scope: CacheScope,
    f: RequestFacts,
    /** false: the exact layer was already read (and missed). */
    readExact: boolean,
    t0: number,
  ): Promise<Begin> {
    if (readExact) {
      const exact = await store.get(key).catch((err: unknown) => storeFailed('cache_get', err));
      if (exact) return hit(f.ctx, t0, policy, exact);
    }
    const sem = policy.semantic;
    if (sem !== undefined && policy.backend === 'memory') {
      const text = semanticText(f.body);
      const e =
        text === undefined
          ? undefined
          : await embedText(d.runtime(), f.ctx, sem.embeddingModel, text, sem.embeddingTimeoutMs);
      if (e !== undefined) {
        const partition = scopeKey(input, e.identity);
        scope.semanticSlot = { embedding: e, partition };
        const found = await semanticHit(semantic, store, policy, partition, e, key, storeFailed);
        if (found !== undefined) {
          d.metrics.governance.cacheRequest(policy.name, 'hit_semantic');
          const similarity = found.similarity.toFixed(4);
          decided(f.ctx, t0, policy, 'hit', found.entry, 'semantic', Number(similarity));
          return { answer: hitAnswer(found.entry, 'semantic', similarity) };
        }
      }
    }
    return miss(f.ctx, t0, policy, scope);
  }
}

/**
 * Records the request's cache outcome (its lookup started at `t0`) for its usage events, and as
 * a span when it is traced. A hit names the entry it served: what it saved.
 */
function decided(
  ctx: RequestContext,
  t0: number,
  policy: CompiledCachePolicy,
  status: CacheUsage['status'],
  hit?: CacheEntry,
  layer: CacheUsage['layer'] = null,
  similarity: number | null = null,
): void {
  if (t0 < 0) return;
  const endedAt = performance.now();
  const u = hit?.usage;
  ctx.cache = {
    policy: policy.name,
    status,
    layer,
    similarity,
    saved:
      hit === undefined
        ? undefined
        : { prompt_tokens: u?.prompt_tokens ?? 0, completion_tokens: u?.completion_tokens ?? 0 },
    endedAt,
    seconds: (endedAt - t0) / 1000,
  };
  ctx.trace?.cache(ctx.cache);
}

function hitAnswer(e: CacheEntry, layer: 'exact' | 'semantic', similarity?: string): Answer {
  const headers: OutgoingHttpHeaders = { 'x-aisix-cache': 'hit', 'x-aisix-cache-layer': layer };
  if (similarity !== undefined) headers['x-aisix-cache-similarity'] = similarity;
  return { kind: e.kind, body: e.body, headers };
}

async function semanticHit(
  index: SemanticIndex,
  store: CacheStore,
  policy: CompiledCachePolicy,
  partition: string,
  e: Embedding,
  key: string,
  failed: (op: string, err: unknown) => void,
): Promise<{ readonly entry: CacheEntry; readonly similarity: number } | undefined> {
  const sem = policy.semantic;
  if (sem === undefined) return undefined;
  const m = index.nearest(policy.id, partition, e.vector, sem.threshold, Date.now());
  if (m === undefined) return undefined;
  const near = await store.get(m.exactKey).catch((err: unknown) => failed('cache_get', err));
  if (!near) {
    index.delete(policy.id, partition, m.exactKey);
    return undefined;
  }
  // Back-fill the exact layer, living no longer than the entry it copies.
  const ttl = Math.min(policy.ttlSecs, near.ttlLeftSecs);
  if (ttl >= 1) await store.set(key, near.entry, ttl).catch((err: unknown) => failed('cache_set', err));
  return { entry: near.entry, similarity: m.similarity };
}

/** A miss (or a bypass): says so in the headers, records the answer, stores it when complete. */
class CacheScope implements Scope {
  semanticSlot: { readonly embedding: Embedding; readonly partition: string } | undefined;
  private json_: string | undefined;
  private sse: string[] | undefined;
  private sseBytes = 0;
  private sseEnded = false;

  constructor(
    private readonly policy: CompiledCachePolicy,
    private readonly store: CacheStore,
    private readonly key: string,
    private readonly bypass: boolean,
    private readonly noStore: boolean,
    private readonly index: SemanticIndex,
    private readonly failed: (op: string, err: unknown) => void,
  ) {}

  headers(h: OutgoingHttpHeaders): void {
    h['x-aisix-cache'] = this.bypass ? 'bypass' : 'miss';
  }

  json(body: string): string {
    if (!this.noStore && body.length <= MAX_RECORD_BYTES) this.json_ = body;
    return body;
  }

  stream(): StreamTap | undefined {
    if (this.noStore) return undefined;
    const parts: string[] = [];
    this.sse = parts;
    return {
      push: (text) => {
        if (this.sse !== undefined) {
          this.sseBytes += text.length;
          if (this.sseBytes > MAX_RECORD_BYTES) this.sse = undefined;
          else parts.push(text);
        }
        return text;
      },
      end: () => {
        this.sseEnded = true;
        return '';
      },
    };
  }

  finish(o: Outcome): void {
    // A stream that ended in an error frame (a guardrail block) is not an answer to replay.
    if (o.status !== 200 || o.cancelled || o.error !== undefined || this.noStore) return;
    let entry: CacheEntry;
    const now = Date.now();
    if (this.json_ !== undefined) {
      entry = {
        kind: 'json',
        status: 200,
        contentType: 'application/json',
        body: this.json_,
        usage: savedUsage(o.usage),
        storedAt: now,
      };
    } else if (this.sse !== undefined && this.sseEnded) {
      entry = {
        kind: 'sse',
        status: 200,
        contentType: 'text/event-stream',
        body: this.sse.join(''),
        usage: savedUsage(o.usage),
        storedAt: now,
      };
    } else return;
    const p = this.policy;
    const stored = () => {
      const s = this.semanticSlot;
      if (s !== undefined && p.semantic !== undefined)
        this.index.add(
          p.id,
          s.partition,
          s.embedding.vector,
          this.key,
          now + p.ttlSecs * 1000,
          p.semantic.maxEntries,
        );
    };
    // The memory store writes at once: no promise per answer.
    if (this.store instanceof MemoryCacheStore) {
      this.store.setSync(this.key, entry, p.ttlSecs);
      stored();
      return;
    }
    this.store.set(this.key, entry, p.ttlSecs).then(stored, (err: unknown) => this.failed('cache_set', err));
  }
}
