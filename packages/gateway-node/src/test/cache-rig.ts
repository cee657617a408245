/**
 * Shared setup of the response-cache tests: a mock upstream that answers every cached endpoint
 * (chat, completions, embeddings, Responses; JSON and streamed) with a fresh sequence number in
 * each answer, so a served body tells whether the upstream was asked again; an Anthropic-native
 * mock; a gateway over both whose `cache_policies` each test swaps in live; and small HTTP
 * helpers (raw bytes and headers, Prometheus counters, a real Redis handle).
 */
import { connectRedis, type RedisHandle } from '@aisix/redis';
import { redisConn } from '@aisix/testkit';
import type { GatewayConfig } from '../config.js';
import type { GatewayOptions } from '../server.js';
import {
  buildSnapshot,
  type Docs,
  type Started,
  sha256,
  standardDocs,
  startTestGateway,
} from './fixtures.js';
import { anthropicJson, anthropicSse } from './mock-anthropic.js';
import { responsesJson, responsesSse } from './mock-responses.js';
import {
  chatJson,
  chatSse,
  json,
  type MockBehaviour,
  type MockUpstream,
  startMockUpstream,
} from './mock-upstream.js';

/** Caller keys (ids k4, k5 in the snapshot; both may use every model). */
export const KEY_A = 'sk-all';
export const KEY_B = 'sk-other';

export type Policies = Record<string, Record<string, unknown>>;

export interface CacheDocs extends Docs {
  readonly cache_policies?: Policies;
}

export interface EmbeddingControl {
  /** Vector per embedded text (the semantic layer's canonical text); absent: `hashVector(text)`. */
  readonly vectors: Map<string, number[]>;
  /** How the embeddings endpoint answers. */
  mode: 'ok' | 'fail' | 'slow';
}

export interface CacheRig {
  readonly up: MockUpstream;
  readonly anth: MockUpstream;
  readonly g: Started;
  readonly emb: EmbeddingControl;
  /** Swaps in a snapshot with these cache policies (and extra docs); returns its revision. */
  apply(policies: Policies, extra?: Docs): number;
  /** Puts the usual upstream behaviours back (after a test scripted a fault). */
  reset(): void;
  /** Upstream requests so far whose path ends with `suffix` (both mocks). */
  calls(suffix?: string): number;
  close(): Promise<void>;
}

/** Embedding dimensions of the mock (vectors given in `EmbeddingControl.vectors` are padded). */
export const DIMS = 16;

/** `head` padded with zeros to DIMS components. */
export const vec = (...head: number[]): number[] => [
  ...head,
  ...new Array<number>(DIMS - head.length).fill(0),
];

/** A pseudo-random vector per text: unrelated texts are far apart (cosine near 0). */
export function hashVector(text: string): number[] {
  const h = Buffer.from(sha256(text), 'hex');
  return [...h.subarray(0, DIMS)].map((b) => b / 127.5 - 1);
}

/** Serves every endpoint the cache covers; `#n` in each answer is the upstream request number. */
function route(up: MockUpstream, emb: EmbeddingControl): MockBehaviour {
  return async (req, res) => {
    const n = up.requests.indexOf(req) + 1;
    const stream = req.json?.stream === true;
    if (req.url.endsWith('/embeddings')) {
      if (emb.mode === 'fail')
        return json(res, 500, { error: { message: 'embedder down', type: 'server_error' } });
      if (emb.mode === 'slow') await new Promise((r) => setTimeout(r, 1500));
      const input = req.json?.input;
      const text = Array.isArray(input) ? String(input[0]) : String(input);
      const vector = emb.vectors.get(text) ?? hashVector(text);
      return json(res, 200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: vector }],
        model: String(req.json?.model),
        usage: { prompt_tokens: 2, total_tokens: 2 },
      });
    }
    if (req.url.endsWith('/responses'))
      return (stream ? responsesSse(['resp ', `#${n}`]) : responsesJson(`resp #${n}`))(req, res);
    if (req.url.endsWith('/completions') && !req.url.endsWith('/chat/completions'))
      return json(res, 200, {
        id: `cmpl-${n}`,
        object: 'text_completion',
        created: 1,
        model: String(req.json?.model),
        choices: [{ text: `completion #${n}`, index: 0, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      });
    return (stream ? chatSse({ words: ['answer ', `#${n}`] }) : chatJson(`answer #${n}`))(req, res);
  };
}

/** Anthropic-native answers carrying `#<n>` like `route`. */
function anthropicRoute(anth: MockUpstream): MockBehaviour {
  return (req, res) => {
    const n = anth.requests.indexOf(req) + 1;
    if (req.json?.stream === true) return anthropicSse({ words: ['claude ', `#${n}`] })(req, res);
    return anthropicJson(`claude #${n}`)(req, res);
  };
}

export function cacheDocs(upUrl: string, anthUrl: string, policies: Policies, extra: Docs = {}): CacheDocs {
  const base = standardDocs(upUrl, {
    provider_keys: {
      pkA: {
        display_name: 'anth',
        api_key: 'sk-anthropic-secret',
        provider: 'anthropic',
        adapter: 'anthropic',
        api_base: anthUrl,
      },
      ...extra.provider_keys,
    },
    models: {
      claude: {
        display_name: 'claude',
        provider: 'anthropic',
        model_name: 'claude-sonnet',
        provider_key_id: 'pkA',
      },
      ...extra.models,
    },
    api_keys: {
      k5: { key_hash: sha256(KEY_B), allowed_models: ['*'] },
      ...extra.api_keys,
    },
  });
  return { ...base, cache_policies: policies };
}

export async function startCacheRig(
  opts: { config?: GatewayConfig; gateway?: Partial<GatewayOptions>; policies?: Policies } = {},
): Promise<CacheRig> {
  const up = await startMockUpstream();
  const anth = await startMockUpstream();
  const emb: EmbeddingControl = { vectors: new Map(), mode: 'ok' };
  const reset = () => {
    up.handle(route(up, emb));
    anth.handle(anthropicRoute(anth));
  };
  reset();
  let rev = 1;
  const g = await startTestGateway(
    buildSnapshot(cacheDocs(up.url, anth.url, opts.policies ?? {}), rev),
    opts.config,
    opts.gateway,
  );
  return {
    up,
    anth,
    g,
    emb,
    reset,
    apply(policies, extra) {
      rev++;
      g.source.set(buildSnapshot(cacheDocs(up.url, anth.url, policies, extra), rev));
      return rev;
    },
    calls(suffix = '') {
      return [...up.requests, ...anth.requests].filter((r) => r.url.endsWith(suffix)).length;
    },
    async close() {
      await g.gw.close();
      await up.close();
      await anth.close();
    },
  };
}

export interface Raw {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

/** A POST with a raw body and bearer key; the answer's status, headers and exact text. */
export async function post(
  base: string,
  path: string,
  body: Record<string, unknown>,
  opts: { key?: string; headers?: Record<string, string> } = {},
): Promise<Raw> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${opts.key ?? KEY_A}`,
      'content-type': 'application/json',
      ...opts.headers,
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/**
 * A streamed POST read until `done` holds for the text so far, or `timeoutMs` passes (then the
 * text that arrived is returned); the request is aborted either way.
 */
export async function postUntil(
  base: string,
  path: string,
  body: Record<string, unknown>,
  done: (text: string) => boolean,
  timeoutMs = 5000,
): Promise<string> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  let text = '';
  try {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      signal: ac.signal,
      headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const dec = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      text += dec.decode(chunk, { stream: true });
      if (done(text)) break;
    }
  } catch {
    // Timed out (or the stream broke): `text` is what arrived.
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return text;
}

/** `x-aisix-cache` of an answer (null when absent). */
export const cacheHeader = (r: { headers: Headers }) => r.headers.get('x-aisix-cache');

/** Sum of the samples of `name` whose labels include every `labels` pair. */
export async function metric(g: Started, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Waits for the response-closed hooks (cache writes happen when the response has closed). */
export const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms));

/** `connectRedis` on one test server, reconnecting quickly after a restart. */
export function connectTestRedis(url: string): Promise<RedisHandle> {
  return connectRedis(redisConn({ url }), { reconnectMaxDelayMs: 200 });
}
