/**
 * Local token estimation: when an upstream reports 0 prompt or completion tokens (a stream
 * whose caller turned `stream_options.include_usage` off, a provider that reports nothing), the
 * zero counters are filled from the request body and the served output, so rate-limit token
 * commits, metrics, spend and usage events do not under-count. Non-zero upstream values are
 * never overridden and the caller's body is never rewritten.
 *
 * Counting: OpenAI cookbook scheme for chat-style messages (3 tokens per message, +1 per name,
 * +3 reply priming, tools +9 and -4 when a system message exists, images 85 low-detail / 250
 * otherwise) over tiktoken-compatible encodings from `gpt-tokenizer` (`o200k_base` for
 * gpt-4o / gpt-4.1+ / gpt-5 / o-series, `cl100k_base` for everything else, non-OpenAI models
 * included). Each encoding is imported on first use (≈0.3-0.75 s once), never at startup.
 *
 * CPU bound: at most `MAX_SCAN_CHARS` of text per side is tokenized, in slices of
 * `SLICE_CHARS` with a turn of the event loop between them (one slice ≈ 2-3 ms), and the rest
 * is extrapolated at the measured tokens per character. Streamed output is kept as the written
 * SSE text up to `MAX_STREAM_CHARS` (references to strings written anyway); beyond that only its
 * length is counted and the text it would hold is extrapolated from the kept part.
 *
 * Leaves out: where estimation is triggered (`pipeline/finish.ts`), what is done with the counts.
 */
import { emptyUsage, type Usage } from '@aisix/providers';
import type { RequestContext, RouteKind } from '../pipeline/context.js';

export const MAX_SCAN_CHARS = 1024 * 1024;
export const SLICE_CHARS = 16 * 1024;
export const MAX_STREAM_CHARS = 4 * 1024 * 1024;

type Encoding = 'o200k_base' | 'cl100k_base';
type Count = (text: string) => number;

const NO_SPECIAL = { disallowedSpecial: new Set<string>() };
const loading = new Map<Encoding, Promise<Count>>();
const ready = new Map<Encoding, Count>();

function load(enc: Encoding): Promise<Count> {
  let p = loading.get(enc);
  if (p === undefined) {
    const mod =
      enc === 'o200k_base'
        ? import('gpt-tokenizer/encoding/o200k_base')
        : import('gpt-tokenizer/encoding/cl100k_base');
    // Text like `<|endoftext|>` in a prompt is ordinary text here, not a control token.
    p = mod.then((m) => {
      const count = (text: string) => m.countTokens(text, NO_SPECIAL);
      ready.set(enc, count);
      return count;
    });
    loading.set(enc, p);
  }
  return p;
}

/** About 4 characters per token: what is counted while an encoding is still loading. */
const roughCount: Count = (text) => Math.ceil(text.length / 4);

/**
 * Loads the encoding `model` uses now instead of at its first estimate (optional: an operator
 * who prefers paying the memory and load time at startup; tests that pin exact counts).
 */
export async function preloadTokenizer(model?: string): Promise<void> {
  await load(encodingFor(model));
}

const O200K = /^(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o\d)/;

/** The encoding for an upstream model id (a `provider/` prefix is ignored). */
export function encodingFor(model: string | undefined): Encoding {
  if (model === undefined) return 'cl100k_base';
  const slash = model.lastIndexOf('/');
  const id = (slash === -1 ? model : model.slice(slash + 1)).toLowerCase();
  return O200K.test(id) ? 'o200k_base' : 'cl100k_base';
}

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/**
 * Tokens of `texts`, each counted on its own (the cookbook counts every value separately): the
 * first `MAX_SCAN_CHARS` in all, with a turn of the event loop after each `SLICE_CHARS` of
 * work; the rest (and `extraChars`) extrapolated at the measured tokens per character.
 */
async function countTexts(count: Count, texts: readonly string[], extraChars = 0): Promise<number> {
  let tokens = 0;
  let scanned = 0;
  let rest = extraChars;
  let sinceYield = 0;
  for (const text of texts) {
    const room = MAX_SCAN_CHARS - scanned;
    if (room <= 0) {
      rest += text.length;
      continue;
    }
    const take = Math.min(text.length, room);
    rest += text.length - take;
    for (let i = 0; i < take; ) {
      let end = Math.min(i + SLICE_CHARS, take);
      // Cut at a space when one is near, so words are not split across slices.
      if (end < take) {
        const sp = text.lastIndexOf(' ', end);
        if (sp > i + SLICE_CHARS / 2) end = sp;
      }
      tokens += count(i === 0 && end === text.length ? text : text.slice(i, end));
      sinceYield += end - i;
      i = end;
      if (sinceYield >= SLICE_CHARS) {
        sinceYield = 0;
        await nextTurn();
      }
    }
    scanned += take;
  }
  return rest > 0 && scanned > 0 ? Math.round(tokens + (tokens / scanned) * rest) : tokens;
}

// ---- prompt side --------------------------------------------------------------------------

type J = Record<string, unknown>;
const isObj = (v: unknown): v is J => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The prompt as counted: text to tokenize plus fixed per-message/per-image overheads. */
interface PromptParts {
  text: string[];
  chars: number;
  /** Characters past the scan cap: extrapolated, not kept. */
  extra: number;
  fixed: number;
}

function addText(p: PromptParts, s: string): void {
  if (s.length === 0) return;
  if (p.chars >= MAX_SCAN_CHARS) {
    p.extra += s.length;
    return;
  }
  p.text.push(s);
  p.chars += s.length;
}

/** Text and images of a content value (string, OpenAI parts, Anthropic blocks, Responses items). */
function addContent(p: PromptParts, c: unknown): void {
  if (typeof c === 'string') {
    addText(p, c);
    return;
  }
  if (!Array.isArray(c)) {
    if (isObj(c)) addPart(p, c);
    return;
  }
  for (const part of c) {
    if (typeof part === 'string') addText(p, part);
    else if (isObj(part)) addPart(p, part);
  }
}

function addPart(p: PromptParts, part: J): void {
  const type = part.type;
  if (type === 'image_url' || type === 'image' || type === 'input_image') {
    const iu = part.image_url;
    const detail = isObj(iu) ? iu.detail : part.detail;
    p.fixed += detail === 'low' ? 85 : 250;
    return;
  }
  if (typeof part.text === 'string') addText(p, part.text);
  if (typeof part.content === 'string' || Array.isArray(part.content)) addContent(p, part.content);
  // Anthropic tool_use / Responses function_call: the arguments are prompt tokens on replay.
  if (part.input !== undefined && type === 'tool_use') addText(p, JSON.stringify(part.input));
  if (typeof part.arguments === 'string') addText(p, part.arguments);
  if (typeof part.output === 'string') addText(p, part.output);
  if (typeof part.name === 'string' && type !== undefined && type !== 'text') addText(p, part.name);
}

function addMessages(p: PromptParts, messages: unknown[]): boolean {
  let system = false;
  for (const m of messages) {
    if (!isObj(m)) continue;
    p.fixed += 3;
    if (typeof m.role === 'string') {
      addText(p, m.role);
      if (m.role === 'system' || m.role === 'developer') system = true;
    }
    if (m.type !== undefined && m.role === undefined) addPart(p, m);
    else addContent(p, m.content);
    if (typeof m.name === 'string') {
      addText(p, m.name);
      p.fixed += 1;
    }
    if (Array.isArray(m.tool_calls)) {
      for (const tc of m.tool_calls) {
        const f = isObj(tc) ? tc.function : undefined;
        if (isObj(f)) {
          if (typeof f.name === 'string') addText(p, f.name);
          if (typeof f.arguments === 'string') addText(p, f.arguments);
        }
      }
    }
  }
  return system;
}

/** The counted parts of a request body, by its shape (chat, messages, responses, completions, embeddings). */
export function promptParts(body: Readonly<J>): PromptParts {
  const p: PromptParts = { text: [], chars: 0, extra: 0, fixed: 0 };
  let system = false;
  let chat = false;
  if (body.system !== undefined) {
    // Anthropic top-level system prompt: one more message.
    p.fixed += 3;
    addContent(p, body.system);
    system = true;
  }
  if (typeof body.instructions === 'string') {
    p.fixed += 3;
    addText(p, body.instructions);
    system = true;
  }
  if (Array.isArray(body.messages)) {
    chat = true;
    if (addMessages(p, body.messages)) system = true;
  }
  const input = body.input;
  if (typeof input === 'string') addText(p, input);
  else if (Array.isArray(input)) {
    if (input.every((x) => typeof x === 'number')) p.fixed += input.length;
    else if (input.some(isObj)) {
      chat = true;
      if (addMessages(p, input)) system = true;
    } else
      for (const x of input) {
        if (typeof x === 'string') addText(p, x);
        else if (Array.isArray(x)) p.fixed += x.length;
      }
  }
  const prompt = body.prompt;
  if (typeof prompt === 'string') addText(p, prompt);
  else if (Array.isArray(prompt)) for (const x of prompt) if (typeof x === 'string') addText(p, x);
  if (chat) p.fixed += 3;
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    addText(p, JSON.stringify(body.tools));
    p.fixed += system ? 9 - 4 : 9;
  }
  return p;
}

// ---- output side --------------------------------------------------------------------------

const TEXT_KEYS = new Set([
  'content',
  'text',
  'delta',
  'arguments',
  'refusal',
  'reasoning_content',
  'thinking',
  'partial_json',
]);

/** Generated text in a response object (OpenAI, Anthropic, Responses shapes, and their stream events). */
function collectOutput(v: unknown, out: string[], depth: number): void {
  if (depth > 12) return;
  if (Array.isArray(v)) {
    for (const x of v) collectOutput(x, out, depth + 1);
    return;
  }
  if (!isObj(v)) return;
  for (const k in v) {
    const x = v[k];
    // Echoed inputs and metadata are not output.
    if (k === 'usage' || k === 'instructions' || k === 'tools' || k === 'metadata' || k === 'logprobs')
      continue;
    if (typeof x === 'string') {
      if (TEXT_KEYS.has(k)) out.push(x);
    } else if (k === 'input' && isObj(x)) {
      out.push(JSON.stringify(x)); // a finished Anthropic tool_use block
    } else if (typeof x === 'object') collectOutput(x, out, depth + 1);
  }
}

/** The generated text of a whole JSON answer; `sep` goes between its pieces (choices, parts). */
export function jsonOutputText(body: string, sep = ''): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return '';
  }
  const out: string[] = [];
  // The Responses API repeats the whole output in `response.output`; the items hold the text.
  collectOutput(isObj(parsed) && Array.isArray(parsed.output) ? parsed.output : parsed, out, 0);
  return out.join(sep);
}

/** The generated text of written SSE bytes (delta events only, so finals are not counted twice). */
export function sseOutputText(chunks: readonly string[]): string {
  const out: string[] = [];
  let carry = '';
  for (const chunk of chunks) {
    const text = carry + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl === -1) break;
      const line = text.slice(start, nl);
      start = nl + 1;
      if (!line.startsWith('data:')) continue;
      const data = line.slice(line.charCodeAt(5) === 32 ? 6 : 5).trim();
      if (data === '' || data === '[DONE]') continue;
      let ev: unknown;
      try {
        ev = JSON.parse(data);
      } catch {
        continue;
      }
      if (!isObj(ev)) continue;
      const type = typeof ev.type === 'string' ? ev.type : '';
      // Terminal summaries repeat the deltas (Responses `*.done` / `response.completed`,
      // Anthropic `content_block_start` carries no text yet): count deltas only.
      if (type.endsWith('.done') || type === 'response.completed' || type === 'message_start') continue;
      if (type.startsWith('response.') && !type.endsWith('.delta')) continue;
      collectOutput(ev, out, 0);
    }
    carry = text.slice(start);
  }
  return out.join('');
}

// ---- entry --------------------------------------------------------------------------------

export interface EstimateInput {
  readonly model: string | undefined;
  /** The request body as sent upstream (undefined: no prompt side to count). */
  readonly body: Readonly<J> | undefined;
  /** Whether the endpoint generates output (embeddings do not). */
  readonly generates: boolean;
  /** A whole JSON answer, or the SSE text written to the caller. */
  readonly json: string | undefined;
  readonly sse: readonly string[] | undefined;
  /** SSE characters written past the kept ones. */
  readonly sseDroppedChars: number;
}

/** Route kinds whose usage is estimated when missing: whether they generate output tokens. */
export const ESTIMATED_KINDS: Partial<Record<RouteKind, boolean>> = {
  chat: true,
  completions: true,
  messages: true,
  responses: true,
  embeddings: false,
};

/** Whether `u` has a zero counter estimation would fill. */
export function needsEstimate(u: Usage | undefined, generates: boolean): boolean {
  return u === undefined || u.prompt_tokens === 0 || (generates && u.completion_tokens === 0);
}

/**
 * The request's upstream answer (`json` or the relayed `sse` text) estimated where `u` has zero
 * counters (§12.5), without waiting for the tokenizer; an estimate becomes `ctx.usage`, marked as
 * estimated, so it is made once. Resolves to the usage to count.
 */
export function estimateRequestUsage(
  ctx: RequestContext,
  u: Usage | undefined,
  generates: boolean,
  answer: Pick<EstimateInput, 'json' | 'sse' | 'sseDroppedChars'>,
): Promise<Usage> {
  const input = { model: ctx.upstreamModel, body: ctx.body, generates, ...answer };
  return estimateUsage(u, input, true).then((e) => {
    if (e.estimated) {
      ctx.usage = e.usage;
      ctx.usageEstimated = true;
    }
    return e.usage;
  });
}

/**
 * A copy of `u` with its zero prompt/completion counters filled; `estimated` says whether any
 * was. The total is recomputed from the parts when a part was filled.
 */
export async function estimateUsage(
  u: Usage | undefined,
  i: EstimateInput,
  /** Count at once with `roughCount` when the encoding is not loaded yet (and load it for later). */
  noWait = false,
): Promise<{ usage: Usage; estimated: boolean }> {
  const usage: Usage = u ? { ...u } : emptyUsage();
  let estimated = false;
  const enc = encodingFor(i.model);
  let count = ready.get(enc);
  if (count === undefined) {
    if (noWait) {
      // Requests finishing while the encoding loads must not wait for it (their rate-limit
      // slots are released at the same time as their tokens are committed).
      load(enc).catch(() => {});
      count = roughCount;
    } else count = await load(enc);
  }
  if (usage.prompt_tokens === 0 && i.body !== undefined) {
    const p = promptParts(i.body);
    const n = (await countTexts(count, p.text, p.extra)) + p.fixed;
    if (n > 0) {
      usage.prompt_tokens = n;
      estimated = true;
    }
  }
  if (i.generates && usage.completion_tokens === 0) {
    let text = '';
    let extra = 0;
    if (i.json !== undefined) text = jsonOutputText(i.json);
    else if (i.sse !== undefined) {
      let kept = 0;
      for (const c of i.sse) kept += c.length;
      text = sseOutputText(i.sse);
      // Past the kept SSE text: as much generated text per written character as in the kept part.
      if (i.sseDroppedChars > 0 && kept > 0) extra = Math.round((text.length / kept) * i.sseDroppedChars);
    }
    const n = await countTexts(count, text === '' ? [] : [text], extra);
    if (n > 0) {
      usage.completion_tokens = n;
      estimated = true;
    }
  }
  if (estimated) {
    usage.total_tokens = Math.max(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  }
  return { usage, estimated };
}
