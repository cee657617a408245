/**
 * OpenAI embeddings ⇄ Google embeddings.
 *
 * Requests: Google AI Studio takes one text on `:embedContent` and several on
 * `:batchEmbedContents`; Vertex takes `instances` on `:predict`. `dimensions` becomes
 * `outputDimensionality`. Token-array inputs have no Google equivalent and are refused (400).
 *
 * Responses: `embedding.values`, `embeddings[].values` or `predictions[].embeddings.values`
 * become `data[]`. The caller's `encoding_format` does not reach Google, so `prepare` notes it in
 * `PreparedRequest.meta.encoding` and we encode here: `base64` is the little-endian float32 bytes
 * (what OpenAI sends and the official SDKs decode — they ask for base64 by default). Usage comes
 * from Vertex `statistics.token_count`; Google AI Studio reports none (0, estimated later).
 */
import type { TransformResult } from '../contract.js';
import { emptyUsage } from '../contract.js';

type Obj = Record<string, unknown>;

export type EmbeddingInput =
  | { readonly ok: true; readonly texts: string[]; readonly single: boolean; readonly dimensions?: number }
  | { readonly ok: false; readonly message: string };

/** Reads `input` (string or string array) and `dimensions` from the caller's body. */
export function readEmbeddingInput(body: Readonly<Obj>): EmbeddingInput {
  const input = body.input;
  const dims = typeof body.dimensions === 'number' && body.dimensions > 0 ? body.dimensions : undefined;
  const ok = (texts: string[], single: boolean): EmbeddingInput =>
    dims !== undefined ? { ok: true, texts, single, dimensions: dims } : { ok: true, texts, single };
  if (typeof input === 'string') return ok([input], true);
  if (Array.isArray(input) && input.length > 0 && input.every((s) => typeof s === 'string')) {
    return ok(input as string[], false);
  }
  return {
    ok: false,
    message:
      'request payload is invalid for Google embeddings: input must be a string or an array of strings',
  };
}

/** Google AI Studio body: `:embedContent` for one text, `:batchEmbedContents` for several. */
export function googleAiEmbeddingBody(
  model: string,
  e: Extract<EmbeddingInput, { ok: true }>,
): { method: 'embedContent' | 'batchEmbedContents'; body: Obj } {
  const one = (text: string): Obj => ({
    model,
    content: { parts: [{ text }] },
    ...(e.dimensions !== undefined ? { outputDimensionality: e.dimensions } : {}),
  });
  if (e.single) return { method: 'embedContent', body: one(e.texts[0] ?? '') };
  return { method: 'batchEmbedContents', body: { requests: e.texts.map(one) } };
}

/** Vertex `:predict` body. */
export function vertexEmbeddingBody(e: Extract<EmbeddingInput, { ok: true }>): Obj {
  return {
    instances: e.texts.map((content) => ({ content })),
    ...(e.dimensions !== undefined ? { parameters: { outputDimensionality: e.dimensions } } : {}),
  };
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function values(v: unknown): number[] | undefined {
  const vals = isObj(v) ? v.values : undefined;
  return Array.isArray(vals) && vals.every((x) => typeof x === 'number') ? (vals as number[]) : undefined;
}

function toBase64(vec: number[]): string {
  const f = new Float32Array(vec);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

/** Google embeddings response → OpenAI embeddings response. */
export function transformGoogleEmbeddings(
  text: string,
  alias: string,
  encoding: string | undefined,
): TransformResult {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return { ok: false, message: 'upstream returned an unparseable body: invalid JSON' };
  }
  if (!isObj(r)) return { ok: false, message: 'upstream returned an unparseable body: not a JSON object' };
  const usage = emptyUsage();
  let vectors: (number[] | undefined)[];
  if (isObj(r.embedding)) vectors = [values(r.embedding)];
  else if (Array.isArray(r.embeddings)) vectors = r.embeddings.map(values);
  else if (Array.isArray(r.predictions)) {
    vectors = r.predictions.map((p) => {
      const emb = isObj(p) ? p.embeddings : undefined;
      const stats = isObj(emb) ? emb.statistics : undefined;
      const tokens = isObj(stats) ? stats.token_count : undefined;
      if (typeof tokens === 'number' && tokens > 0) usage.prompt_tokens += tokens;
      return values(emb);
    });
  } else return { ok: false, message: 'upstream returned an unparseable body: no embeddings' };
  if (vectors.some((v) => v === undefined)) {
    return { ok: false, message: 'upstream returned an unparseable body: embedding without values' };
  }
  usage.total_tokens = usage.prompt_tokens;
  const data = (vectors as number[][]).map((v, index) => ({
    object: 'embedding',
    index,
    embedding: encoding === 'base64' ? toBase64(v) : v,
  }));
  const body = {
    object: 'list',
    data,
    model: alias,
    usage: { prompt_tokens: usage.prompt_tokens, total_tokens: usage.total_tokens },
  };
  return { ok: true, body: JSON.stringify(body), usage };
}
