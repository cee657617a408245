/**
 * Shared rig of the rate-limit tests (`interceptors/rate-limits*.test.ts`): a started gateway
 * (memory counters, metrics listener) in front of two real mock upstreams, one speaking the
 * OpenAI wire on every endpoint family and one speaking Anthropic's, plus the helpers those
 * tests need: fresh caller keys and models per test (so no two tests share a counter), live
 * config swaps, SDK clients, window alignment and the Prometheus counter of rejections.
 *
 * What the OpenAI mock answers is chosen by the upstream model name the gateway sends:
 * `fail500-*` 500, `fail400-*` 400, `slow-*` a stream (or JSON) with pauses, `long-*` a chat
 * stream of `LONG_WORDS` words `LONG_GAP_MS` apart (several seconds), `inusage-*` a chat
 * stream whose usage rides on the finish chunk (no usage-only chunk), `nousage-*` a chat JSON
 * answer without `usage` (the gateway estimates it); anything else a normal answer. Token counts
 * per family are fixed below (`TOKENS`).
 */
import type { ServerResponse } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { GatewayOptions } from '../server.js';
import { buildSnapshot, type Docs, type Started, sha256, startTestGateway } from './fixtures.js';
import { anthropicJson, anthropicSse } from './mock-anthropic.js';
import { responsesJson, responsesSse } from './mock-responses.js';
import {
  chunk,
  json,
  type MockUpstream,
  type SeenRequest,
  sleep,
  startMockUpstream,
} from './mock-upstream.js';

type Doc = Record<string, unknown>;

/** Tokens one successful answer of each family costs, cache-inclusive (data-plane §9.3). */
export const TOKENS = {
  /** prompt 9 (4 of them cached: a subset, not added) + completion 3. */
  chat: 12,
  completions: 7,
  embeddings: 8,
  /** input 11 (2 cached, a subset) + output 6. */
  responses: 17,
  /** Anthropic: input 21 + output 5 + cache_creation 0 + cache_read 3. */
  anthropic: 29,
  rerank: 13,
  /** images: input 7 + output 100. */
  images: 107,
  /** `inusage-*` streams: usage on the finish chunk. */
  inUsage: 10,
} as const;

const CHAT_USAGE = {
  prompt_tokens: 9,
  completion_tokens: 3,
  total_tokens: 12,
  prompt_tokens_details: { cached_tokens: 4 },
};

function chatBody(req: SeenRequest): Doc {
  return {
    id: 'chatcmpl-rl',
    object: 'chat.completion',
    created: 1700000000,
    model: String(req.json?.model),
    choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
    usage: CHAT_USAGE,
  };
}

/** The words of a `long-*` stream, one every `LONG_GAP_MS` (about 4 s in all). */
export const LONG_WORDS = 16;
export const LONG_GAP_MS = 250;

async function chatStream(req: SeenRequest, res: ServerResponse, upstreamModel: string): Promise<void> {
  const slow = upstreamModel.startsWith('slow-');
  const long = upstreamModel.startsWith('long-');
  const gap = slow ? 120 : long ? LONG_GAP_MS : 0;
  const words = slow
    ? ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    : long
      ? Array.from({ length: LONG_WORDS }, (_, i) => `w${i} `)
      : ['Hel', 'lo', '!'];
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.flushHeaders();
  res.write(chunk(upstreamModel, { role: 'assistant', content: '' }));
  for (const w of words) {
    if (gap > 0) await sleep(gap);
    if (res.destroyed) return;
    res.write(chunk(upstreamModel, { content: w }));
  }
  if (upstreamModel.startsWith('inusage-')) {
    const usage = { prompt_tokens: 6, completion_tokens: 4, total_tokens: TOKENS.inUsage };
    res.write(
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: upstreamModel, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], usage })}\n\n`,
    );
  } else res.write(chunk(upstreamModel, {}, 'stop'));
  const so = req.json?.stream_options as { include_usage?: boolean } | undefined;
  if (so?.include_usage && !upstreamModel.startsWith('inusage-')) {
    res.write(
      `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: upstreamModel, choices: [], usage: CHAT_USAGE })}\n\n`,
    );
  }
  res.end('data: [DONE]\n\n');
}

function completionsStream(req: SeenRequest, res: ServerResponse): void {
  const ev = (o: Doc) =>
    `data: ${JSON.stringify({ id: 'cmpl-s', object: 'text_completion', created: 1, ...o })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(ev({ choices: [{ text: 'Hel', index: 0, finish_reason: null }] }));
  res.write(ev({ choices: [{ text: 'lo', index: 0, finish_reason: 'stop' }] }));
  const so = req.json?.stream_options as { include_usage?: boolean } | undefined;
  if (so?.include_usage) {
    res.write(ev({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }));
  }
  res.end('data: [DONE]\n\n');
}

async function openaiWire(req: SeenRequest, res: ServerResponse): Promise<void> {
  const model = String(req.json?.model ?? '');
  const stream = req.json?.stream === true;
  if (model.startsWith('fail500-'))
    return json(res, 500, { error: { message: 'upstream broke', type: 'server_error' } });
  if (model.startsWith('fail400-'))
    return json(res, 400, { error: { message: 'bad thing', type: 'invalid_request_error' } });
  const url = req.url;
  if (url.endsWith('/responses')) return (stream ? responsesSse() : responsesJson())(req, res);
  if (url.endsWith('/embeddings'))
    return json(res, 200, {
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
      model,
      usage: { prompt_tokens: 8, total_tokens: 8 },
    });
  if (url.endsWith('/rerank'))
    return json(res, 200, {
      id: 'rr',
      results: [{ index: 0, relevance_score: 0.5 }],
      usage: { total_tokens: 13 },
    });
  if (url.endsWith('/images/generations'))
    return json(res, 200, {
      created: 1,
      data: [{ b64_json: 'aGk=' }],
      usage: { input_tokens: 7, output_tokens: 100, total_tokens: 107 },
    });
  if (url.endsWith('/completions') && !url.endsWith('/chat/completions')) {
    if (stream) return completionsStream(req, res);
    return json(res, 200, {
      id: 'cmpl-1',
      object: 'text_completion',
      created: 1,
      model,
      choices: [{ text: 'Hello!', index: 0, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
    });
  }
  if (stream) return chatStream(req, res, model);
  if (model.startsWith('slow-')) await sleep(400);
  if (model.startsWith('nousage-')) {
    const { usage: _, ...body } = chatBody(req);
    return json(res, 200, body);
  }
  return json(res, 200, chatBody(req));
}

/** Seconds until the end of the current `w`-second window, as the gateway computes it. */
export function secsLeft(w: number, nowMs = Date.now()): number {
  const end = (Math.floor(nowMs / 1000 / w) + 1) * w * 1000;
  return Math.max(1, Math.ceil((end - nowMs) / 1000));
}

/**
 * Waits until the current fixed window of `w` seconds has at least `needMs` left, so a test's
 * requests all fall in one window (never crosses a boundary mid-test).
 */
export async function roomIn(w: number, needMs: number): Promise<void> {
  const left = (Math.floor(Date.now() / 1000 / w) + 1) * w * 1000 - Date.now();
  if (left < needMs) await sleep(left + 20);
}

export interface Call {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Record<string, unknown>;
}

export class Rig {
  private docs: Required<Docs> & { rate_limit_policies: Record<string, Doc> };
  private revision = 1;
  private seq = 0;
  readonly openai = new Map<string, OpenAI>();

  constructor(
    readonly g: Started,
    readonly up: MockUpstream,
    readonly anth: MockUpstream,
    docs: Docs,
  ) {
    this.docs = {
      provider_keys: { ...docs.provider_keys },
      models: { ...docs.models },
      api_keys: { ...docs.api_keys },
      rate_limit_policies: {},
    };
  }

  get base(): string {
    return this.g.base;
  }

  /** A name no other test of this process used. */
  uid(prefix: string): string {
    this.seq += 1;
    return `${prefix}${this.seq}`;
  }

  /** Adds (or replaces) resources and swaps the config live (next revision). */
  apply(extra: {
    provider_keys?: Record<string, Doc>;
    models?: Record<string, Doc>;
    api_keys?: Record<string, Doc>;
    policies?: Record<string, Doc>;
  }): void {
    Object.assign(this.docs.provider_keys, extra.provider_keys);
    Object.assign(this.docs.models, extra.models);
    Object.assign(this.docs.api_keys, extra.api_keys);
    Object.assign(this.docs.rate_limit_policies, extra.policies);
    this.revision += 1;
    this.g.source.set(buildSnapshot(this.docs as Docs, this.revision));
  }

  removePolicy(id: string): void {
    delete this.docs.rate_limit_policies[id];
    this.apply({});
  }

  /** A fresh caller key (id `<secret>`, plaintext `<secret>`), allowed every model. */
  key(rateLimit?: Doc, extra: Doc = {}): string {
    const id = this.uid('key-');
    this.apply({
      api_keys: {
        [id]: {
          key_hash: sha256(id),
          allowed_models: ['*'],
          ...(rateLimit ? { rate_limit: rateLimit } : {}),
          ...extra,
        },
      },
    });
    return id;
  }

  /** Replaces a caller key's inline limit (undefined: none) with a live config swap. */
  setKeyLimit(id: string, rateLimit: Doc | undefined, extra: Doc = {}): void {
    this.apply({
      api_keys: {
        [id]: {
          key_hash: sha256(id),
          allowed_models: ['*'],
          ...(rateLimit ? { rate_limit: rateLimit } : {}),
          ...extra,
        },
      },
    });
  }

  /** A fresh direct model on the OpenAI mock (alias = id); `upstream` picks the mock behaviour. */
  model(rateLimit?: Doc, upstream = 'gpt-x', extra: Doc = {}): string {
    const id = this.uid('m-');
    this.apply({
      models: {
        [id]: {
          display_name: id,
          provider: 'openai',
          model_name: upstream,
          provider_key_id: 'pko',
          ...(rateLimit ? { rate_limit: rateLimit } : {}),
          ...extra,
        },
      },
    });
    return id;
  }

  /** A fresh direct model on the Anthropic mock (native `/v1/messages`). */
  claude(rateLimit?: Doc): string {
    const id = this.uid('claude-');
    this.apply({
      models: {
        [id]: {
          display_name: id,
          provider: 'anthropic',
          model_name: 'claude-up',
          provider_key_id: 'pka',
          ...(rateLimit ? { rate_limit: rateLimit } : {}),
        },
      },
    });
    return id;
  }

  client(key: string): OpenAI {
    let c = this.openai.get(key);
    if (c === undefined) {
      c = new OpenAI({ apiKey: key, baseURL: `${this.base}/v1`, maxRetries: 0 });
      this.openai.set(key, c);
    }
    return c;
  }

  anthropic(key: string): Anthropic {
    return new Anthropic({ apiKey: key, baseURL: this.base, maxRetries: 0 });
  }

  /** A raw POST (any status) with the body read as JSON, or `{text}` for SSE. */
  async post(path: string, key: string, body: Doc): Promise<Call> {
    const res = await fetch(`${this.base}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { text };
    }
    return { status: res.status, headers: res.headers, body: parsed };
  }

  chat(key: string, model: string, extra: Doc = {}): Promise<Call> {
    return this.post('/v1/chat/completions', key, {
      model,
      messages: [{ role: 'user', content: 'hello' }],
      ...extra,
    });
  }

  messages(key: string, model: string, extra: Doc = {}): Promise<Call> {
    return this.post('/v1/messages', key, {
      model,
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hello' }],
      ...extra,
    });
  }

  /** `aisix_ratelimit_rejections_total` for one label set (0 when the series is absent). */
  /** `policyId`: "unknown" for inline limits (no policy; data-plane §12.2). */
  async rejections(scope: string, layer: string, policyId = 'unknown'): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${this.g.gw.metricsPort}/metrics`);
    const text = await res.text();
    const want = `aisix_ratelimit_rejections_total{scope="${scope}",layer="${layer}",policy_id="${policyId}"}`;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${want} `)) return Number(line.slice(want.length + 1));
    }
    return 0;
  }

  /** `aisix_llm_total_tokens_total` of one model alias, every endpoint (undefined: no series). */
  async tokensOf(model: string): Promise<number | undefined> {
    const text = await (await fetch(`http://127.0.0.1:${this.g.gw.metricsPort}/metrics`)).text();
    let sum: number | undefined;
    for (const l of text.split('\n')) {
      if (l.startsWith('aisix_llm_total_tokens_total{') && l.includes(`,model="${model}",`))
        sum = (sum ?? 0) + Number(l.slice(l.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  async close(): Promise<void> {
    await this.g.gw.close();
    await this.up.close();
    await this.anth.close();
  }
}

/** `gateway`: extra gateway options (e.g. another `rateLimitStore` than the memory one). */
export async function startRig(gateway: Partial<GatewayOptions> = {}): Promise<Rig> {
  const up = await startMockUpstream(openaiWire);
  const anth = await startMockUpstream((req, res) =>
    (req.json?.stream === true ? anthropicSse() : anthropicJson())(req, res),
  );
  const docs: Docs = {
    provider_keys: {
      pko: { display_name: 'oai', api_key: 'sk-up', provider: 'openai', api_base: `${up.url}/v1` },
      pka: { display_name: 'ant', api_key: 'sk-ant', provider: 'anthropic', api_base: anth.url },
    },
    models: {},
    api_keys: {},
  };
  const g = await startTestGateway(buildSnapshot(docs), undefined, gateway);
  return new Rig(g, up, anth, docs);
}

export interface Refused {
  readonly status: number;
  readonly retryAfter: string | null;
  /** The SDK's `error`: OpenAI the inner `error` object, Anthropic the whole body. */
  readonly error: unknown;
}

/** The SDK error of a call expected to fail (either SDK). */
export async function refused(p: Promise<unknown>): Promise<Refused> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError || e instanceof Anthropic.APIError) {
      return {
        status: e.status as number,
        retryAfter: e.headers?.get('retry-after') ?? null,
        error: e.error,
      };
    }
    throw e;
  }
  throw new Error('expected the call to be refused');
}

/** The `x-ratelimit-*` headers of a response, by name. */
export function rlHeaders(h: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  h.forEach((v, k) => {
    if (k.startsWith('x-ratelimit-')) out[k] = v;
  });
  return out;
}
