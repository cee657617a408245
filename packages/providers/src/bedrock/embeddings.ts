/**
 * Bedrock embeddings through `invoke`, mapped to and from the OpenAI embeddings shape.
 *
 * - Titan (`amazon.titan-embed*`): `{inputText, dimensions?}`, one text per call, so an array
 *   input must hold exactly one string (more is a 400: the adapter makes one upstream call).
 *   Response `{embedding, inputTextTokenCount}`.
 * - Cohere (`cohere.embed*`): `{texts, input_type}`; `input_type` defaults to
 *   `search_document` (required by v3) and a caller-sent `input_type` / `truncate` is kept.
 *   Response `{embeddings: [[…]]}` or `{embeddings: {float: [[…]]}}`; no token counts (the
 *   gateway estimates them).
 * - Token-array inputs are refused (neither family takes token ids).
 * - `encoding_format: "base64"` (the OpenAI SDK's default!) is honoured by packing each vector
 *   as little-endian float32, exactly what OpenAI returns; the wish travels in
 *   `PreparedRequest.meta` because Bedrock's request cannot carry it.
 */
import type { TransformResult, Usage } from '../contract.js';
import { emptyUsage } from '../contract.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export type EmbeddingRequestResult =
  | { readonly ok: true; readonly body: Obj }
  | { readonly ok: false; readonly message: string };

function texts(input: unknown): string[] | undefined {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0 && input.every((s) => typeof s === 'string'))
    return input as string[];
  return undefined;
}

export function toEmbeddingRequest(family: 'titan' | 'cohere', body: Readonly<Obj>): EmbeddingRequestResult {
  const list = texts(body.input);
  if (!list) {
    return {
      ok: false,
      message: 'request payload is invalid: bedrock embeddings take a string or an array of strings',
    };
  }
  if (family === 'titan') {
    if (list.length !== 1) {
      return {
        ok: false,
        message: 'request payload is invalid: titan embeddings take exactly one input per request',
      };
    }
    const out: Obj = { inputText: list[0] };
    if (typeof body.dimensions === 'number') out.dimensions = body.dimensions;
    return { ok: true, body: out };
  }
  const out: Obj = {
    texts: list,
    input_type: typeof body.input_type === 'string' ? body.input_type : 'search_document',
  };
  if (typeof body.truncate === 'string') out.truncate = body.truncate;
  return { ok: true, body: out };
}

function vectors(res: Obj): number[][] | undefined {
  if (Array.isArray(res.embedding)) return [res.embedding as number[]];
  if (Array.isArray(res.embeddings)) return res.embeddings as number[][];
  if (isObj(res.embeddings) && Array.isArray(res.embeddings.float)) return res.embeddings.float as number[][];
  return undefined;
}

function base64(v: readonly number[]): string {
  const buf = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i] ?? 0, i * 4);
  return buf.toString('base64');
}

export function transformEmbeddings(
  text: string,
  alias: string,
  encoding: string | undefined,
): TransformResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: 'upstream returned an unparseable body: invalid JSON' };
  }
  const list = isObj(parsed) ? vectors(parsed) : undefined;
  if (!isObj(parsed) || !list?.every(Array.isArray)) {
    return { ok: false, message: 'upstream returned an unparseable body: not an embeddings response' };
  }
  const usage: Usage = emptyUsage();
  const tokens = parsed.inputTextTokenCount;
  if (typeof tokens === 'number' && tokens > 0) {
    usage.prompt_tokens = tokens;
    usage.total_tokens = tokens;
  }
  const body = {
    object: 'list',
    data: list.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: encoding === 'base64' ? base64(v) : v,
    })),
    model: alias,
    usage: { prompt_tokens: usage.prompt_tokens, total_tokens: usage.total_tokens },
  };
  return { ok: true, body: JSON.stringify(body), usage };
}
