/**
 * OpenAI chat body → Gemini `generateContent` request (providers.md §5, decision OP-4: images
 * reach Gemini). Pure; the vendor adapters add URLs and credentials.
 *
 * - system/developer messages → `systemInstruction`, joined with a blank line (any position);
 * - user → `user`, assistant → `model`, tool results → `functionResponse` parts in a `user` turn;
 *   consecutive same-role turns are merged (parallel tool results must share one turn); empty
 *   text parts are left out (Gemini refuses a part without data) and a turn left empty is skipped;
 * - image parts: `data:` URLs → `inlineData`, http(s)/gs URLs → `fileData` (MIME guessed from the
 *   extension, omitted when unknown); `input_audio` and `file` data → `inlineData`;
 * - an assistant tool call's `extra_content.google.thought_signature` (response.ts puts it there)
 *   → the `functionCall` part's `thoughtSignature`, which Gemini 3 requires back;
 * - tools → `functionDeclarations`, `tool_choice` → `toolConfig`, sampling and JSON mode under
 *   `generationConfig`;
 * - thinking, as Google's OpenAI-compatible endpoint takes it: `extra_body.google.thinking_config`
 *   verbatim (snake_case → camelCase), else `reasoning_effort` on thinking models (Gemini 2.5 →
 *   a budget, Gemini 3 → a level; Google's mapping), `none` → budget 0.
 *
 * What does not translate is refused (400) instead of dropped silently: an unknown content part,
 * a non-function tool, tool-call arguments that are not a JSON object, a tool result whose call
 * cannot be found. OpenAI-only knobs with no Gemini meaning (`stream_options`, `user`, `logprobs`,
 * `parallel_tool_calls`, ...) are dropped.
 */
import { normalizeMediaType } from '../shared/mime.js';
import type {
  GeminiContent,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRequest,
  GeminiThinkingConfig,
} from './wire.js';

export type GeminiRequestResult =
  | { readonly ok: true; readonly request: GeminiRequest }
  | { readonly ok: false; readonly message: string };

type Obj = Record<string, unknown>;

class RequestError extends Error {}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function fail(message: string): never {
  throw new RequestError(`request payload is invalid for Gemini: ${message}`);
}

const MIME_BY_EXT: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  mp4: 'video/mp4',
  txt: 'text/plain',
};

/**
 * The bytes of a percent-encoded `data:` payload (RFC 2397): `%XX` is one byte, so binary payloads
 * (`%89PNG`) survive; other characters are UTF-8. A `%` not followed by two hex digits is the
 * caller's malformed URL: a 400, not an exception.
 */
function percentDecoded(payload: string): Buffer {
  const chunks: Buffer[] = [];
  let from = 0;
  for (let i = payload.indexOf('%'); i !== -1; i = payload.indexOf('%', from)) {
    const hex = payload.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) fail('malformed data: URL (invalid percent-encoding)');
    chunks.push(Buffer.from(payload.slice(from, i), 'utf8'), Buffer.of(Number.parseInt(hex, 16)));
    from = i + 3;
  }
  chunks.push(Buffer.from(payload.slice(from), 'utf8'));
  return Buffer.concat(chunks);
}

/** `data:<mime>[;base64],<payload>` → inline blob (non-base64 payloads are percent-decoded). */
function dataUrlPart(url: string): GeminiPart {
  const comma = url.indexOf(',');
  if (comma === -1) fail('malformed data: URL in an image part');
  const meta = url.slice(5, comma).split(';');
  const mimeType = normalizeMediaType(meta[0] || 'application/octet-stream');
  const payload = url.slice(comma + 1);
  const data = meta.some((m) => m.toLowerCase() === 'base64')
    ? payload
    : percentDecoded(payload).toString('base64');
  return { inlineData: { mimeType, data } };
}

function urlPart(url: string): GeminiPart {
  if (url.startsWith('data:')) return dataUrlPart(url);
  if (!/^(https?|gs):\/\//i.test(url)) fail('image_url.url must be a data:, http(s):// or gs:// URL');
  const path = url.split(/[?#]/, 1)[0] ?? '';
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  const mimeType = MIME_BY_EXT[ext];
  return { fileData: mimeType ? { fileUri: url, mimeType } : { fileUri: url } };
}

function contentPart(p: unknown): GeminiPart {
  if (!isObj(p)) fail('content parts must be objects');
  switch (p.type) {
    case 'text':
      return { text: typeof p.text === 'string' ? p.text : '' };
    case 'image_url': {
      const iu = p.image_url;
      const url = typeof iu === 'string' ? iu : isObj(iu) ? iu.url : undefined;
      if (typeof url !== 'string') fail('image_url part without a url');
      return urlPart(url);
    }
    case 'input_audio': {
      const a = isObj(p.input_audio) ? p.input_audio : {};
      if (typeof a.data !== 'string') fail('input_audio part without data');
      const format = typeof a.format === 'string' ? a.format : 'wav';
      return { inlineData: { mimeType: `audio/${format === 'mp3' ? 'mpeg' : format}`, data: a.data } };
    }
    case 'file': {
      const f = isObj(p.file) ? p.file : {};
      if (typeof f.file_data === 'string' && f.file_data.startsWith('data:')) return dataUrlPart(f.file_data);
      return fail('file parts must carry file_data as a data: URL (file ids are not supported)');
    }
    default:
      return fail(`unsupported content part type ${JSON.stringify(String(p.type))}`);
  }
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((p) => (isObj(p) && p.type === 'text' && typeof p.text === 'string' ? p.text : ''))
    .join('');
}

/** A part that carries no data: Gemini refuses `{text: ""}` (its `data` oneof is unset). */
const isEmptyText = (p: GeminiPart): boolean => p.text === '' && Object.keys(p).length === 1;

function userParts(content: unknown): GeminiPart[] {
  if (typeof content === 'string') return content === '' ? [] : [{ text: content }];
  if (Array.isArray(content)) return content.map(contentPart).filter((p) => !isEmptyText(p));
  if (content == null) return [];
  return fail('message content must be a string or an array of parts');
}

function parseArgs(raw: unknown): Obj {
  if (isObj(raw)) return raw;
  if (typeof raw !== 'string' || raw.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    fail('tool call arguments are not valid JSON');
  }
  if (!isObj(v)) fail('tool call arguments must be a JSON object');
  return v;
}

/** `extra_content.google.thought_signature` of an assistant tool call, when it carries one. */
function thoughtSignature(tc: Obj): string | undefined {
  const extra = tc.extra_content;
  if (extra === undefined || extra === null) return undefined;
  const google = isObj(extra) ? extra.google : fail('tool_calls[].extra_content must be an object');
  if (google === undefined || google === null) return undefined;
  const sig = isObj(google)
    ? google.thought_signature
    : fail('tool_calls[].extra_content.google must be an object');
  if (sig === undefined || sig === null) return undefined;
  if (typeof sig !== 'string') fail('tool_calls[].extra_content.google.thought_signature must be a string');
  return sig === '' ? undefined : sig;
}

function toolResultPayload(content: unknown): Obj {
  const text = textOf(content);
  try {
    const v: unknown = JSON.parse(text);
    if (isObj(v)) return v;
  } catch {
    // not JSON: wrapped below
  }
  return { content: text };
}

/** Keywords whose value is a schema, or an array of schemas. */
const SUBSCHEMA_KEYWORDS = new Set(['items', 'prefixItems', 'anyOf', 'oneOf', 'allOf', 'not']);
/** Keywords whose value maps caller-chosen names (never keywords) to schemas. */
const SCHEMA_MAP_KEYWORDS = new Set(['properties', '$defs', 'definitions']);

/**
 * Drops JSON-Schema keywords Gemini's OpenAPI-subset schema rejects (`$schema`,
 * `additionalProperties`, `strict`). Only keywords are dropped: the names under `properties` are
 * the caller's (a parameter may be called `strict`), and literal values (`default`, `enum`,
 * `example`, ...) are copied as they are.
 */
export function sanitizeSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(sanitizeSchema);
  if (!isObj(schema)) return schema;
  const out: Obj = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === '$schema' || k === 'additionalProperties' || k === 'strict') continue;
    if (SUBSCHEMA_KEYWORDS.has(k)) out[k] = sanitizeSchema(v);
    else if (SCHEMA_MAP_KEYWORDS.has(k) && isObj(v)) {
      const named: Obj = {};
      for (const [name, sub] of Object.entries(v)) named[name] = sanitizeSchema(sub);
      out[k] = named;
    } else out[k] = v;
  }
  return out;
}

function buildContents(messages: unknown[], system: string[]): GeminiContent[] {
  const contents: GeminiContent[] = [];
  const callNames = new Map<string, string>();
  const push = (role: 'user' | 'model', parts: GeminiPart[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const m of messages) {
    if (!isObj(m)) fail('messages must be objects');
    switch (m.role) {
      case 'system':
      case 'developer': {
        const t = textOf(m.content);
        if (t !== '') system.push(t);
        break;
      }
      case 'user':
        push('user', userParts(m.content));
        break;
      case 'assistant': {
        const parts: GeminiPart[] = [];
        const t = textOf(m.content);
        if (t !== '') parts.push({ text: t });
        if (Array.isArray(m.tool_calls)) {
          for (const tc of m.tool_calls) {
            const call = isObj(tc) ? tc : fail('assistant tool_calls need function.name');
            const fn = isObj(call.function) ? call.function : undefined;
            if (!fn || typeof fn.name !== 'string') fail('assistant tool_calls need function.name');
            if (typeof call.id === 'string') callNames.set(call.id, fn.name);
            const part: GeminiPart = { functionCall: { name: fn.name, args: parseArgs(fn.arguments) } };
            const signature = thoughtSignature(call);
            if (signature !== undefined) part.thoughtSignature = signature;
            parts.push(part);
          }
        }
        push('model', parts);
        break;
      }
      case 'tool':
      case 'function': {
        const id = typeof m.tool_call_id === 'string' ? m.tool_call_id : '';
        const name = callNames.get(id) ?? (typeof m.name === 'string' ? m.name : undefined);
        if (!name) fail('tool message tool_call_id does not match an earlier assistant tool call');
        push('user', [{ functionResponse: { name, response: toolResultPayload(m.content) } }]);
        break;
      }
      default:
        fail(`unsupported message role ${JSON.stringify(String(m.role))}`);
    }
  }
  return contents;
}

function buildTools(body: Readonly<Obj>, req: GeminiRequest): void {
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    const decls = body.tools.map((t) => {
      if (!isObj(t) || t.type !== 'function' || !isObj(t.function)) fail('only function tools are supported');
      const f = t.function;
      if (typeof f.name !== 'string') fail('function tools need a name');
      const params = f.parameters;
      const emptyObject =
        isObj(params) && (!isObj(params.properties) || Object.keys(params.properties).length === 0);
      return {
        name: f.name,
        ...(typeof f.description === 'string' ? { description: f.description } : {}),
        // Gemini rejects an OBJECT schema without properties: a no-argument function has none.
        ...(isObj(params) && !emptyObject ? { parameters: sanitizeSchema(params) as Obj } : {}),
      };
    });
    req.tools = [{ functionDeclarations: decls }];
  }
  const tc = body.tool_choice;
  if (tc === 'auto') req.toolConfig = { functionCallingConfig: { mode: 'AUTO' } };
  else if (tc === 'none') req.toolConfig = { functionCallingConfig: { mode: 'NONE' } };
  else if (tc === 'required') req.toolConfig = { functionCallingConfig: { mode: 'ANY' } };
  else if (isObj(tc) && isObj(tc.function) && typeof tc.function.name === 'string') {
    req.toolConfig = { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [tc.function.name] } };
  }
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Google's `reasoning_effort` budgets for Gemini 2.5 (its OpenAI-compatibility guide). */
const EFFORT_BUDGET: Readonly<Record<string, number>> = {
  minimal: 1024,
  low: 1024,
  medium: 8192,
  high: 24576,
  xhigh: 24576,
};
/** Gemini 3 levels: `low` and `high` are the two every Gemini 3 model accepts. */
const EFFORT_LEVEL: Readonly<Record<string, string>> = {
  minimal: 'low',
  low: 'low',
  medium: 'high',
  high: 'high',
  xhigh: 'high',
};

/**
 * `generationConfig.thinkingConfig`: the caller's `extra_body.google.thinking_config` when given
 * (Google's OpenAI-compatible wire), else one derived from `reasoning_effort`. Models without
 * thinking (before Gemini 2.5) refuse a thinking config, so the effort is dropped for them.
 */
function thinkingConfig(body: Readonly<Obj>, model: string): GeminiThinkingConfig | undefined {
  const extra = isObj(body.extra_body) && isObj(body.extra_body.google) ? body.extra_body.google : undefined;
  const tc = extra?.thinking_config;
  if (tc !== undefined && tc !== null) {
    if (!isObj(tc)) fail('extra_body.google.thinking_config must be an object');
    const out: GeminiThinkingConfig = {};
    const { thinking_budget: budget, thinking_level: level, include_thoughts: include } = tc;
    if (budget !== undefined) {
      if (typeof budget !== 'number' || !Number.isInteger(budget))
        fail('extra_body.google.thinking_config.thinking_budget must be an integer');
      out.thinkingBudget = budget;
    }
    if (level !== undefined) {
      if (typeof level !== 'string')
        fail('extra_body.google.thinking_config.thinking_level must be a string');
      out.thinkingLevel = level;
    }
    if (include !== undefined) {
      if (typeof include !== 'boolean')
        fail('extra_body.google.thinking_config.include_thoughts must be a boolean');
      out.includeThoughts = include;
    }
    return out;
  }
  const effort = body.reasoning_effort;
  if (typeof effort !== 'string') return undefined;
  const family = /(?:^|\/)gemini-(\d+)(?:\.(\d+))?/.exec(model);
  const major = Number(family?.[1] ?? 0);
  const minor = Number(family?.[2] ?? 0);
  if (major < 2 || (major === 2 && minor < 5)) return undefined;
  if (effort === 'none') return { thinkingBudget: 0 };
  if (major >= 3) {
    const level = EFFORT_LEVEL[effort];
    return level === undefined ? undefined : { thinkingLevel: level };
  }
  const budget = EFFORT_BUDGET[effort];
  return budget === undefined ? undefined : { thinkingBudget: budget };
}

function buildGenerationConfig(body: Readonly<Obj>, model: string): GeminiGenerationConfig {
  const g: GeminiGenerationConfig = {};
  const set = <K extends keyof GeminiGenerationConfig>(k: K, v: GeminiGenerationConfig[K] | undefined) => {
    if (v !== undefined) g[k] = v;
  };
  set('temperature', num(body.temperature));
  set('topP', num(body.top_p));
  set('topK', num(body.top_k));
  set('maxOutputTokens', num(body.max_completion_tokens) ?? num(body.max_tokens));
  set('candidateCount', num(body.n));
  set('presencePenalty', num(body.presence_penalty));
  set('frequencyPenalty', num(body.frequency_penalty));
  set('seed', num(body.seed));
  const stop = body.stop;
  const stops = (typeof stop === 'string' ? [stop] : Array.isArray(stop) ? stop : []).filter(
    (s): s is string => typeof s === 'string' && s !== '',
  );
  if (stops.length > 0) g.stopSequences = stops;
  const rf = body.response_format;
  if (isObj(rf) && rf.type === 'json_object') g.responseMimeType = 'application/json';
  else if (isObj(rf) && rf.type === 'json_schema') {
    g.responseMimeType = 'application/json';
    const js = isObj(rf.json_schema) ? rf.json_schema : {};
    if (isObj(js.schema)) g.responseSchema = sanitizeSchema(js.schema) as Obj;
  }
  const thinking = thinkingConfig(body, model);
  if (thinking !== undefined) g.thinkingConfig = thinking;
  return g;
}

/**
 * Translates an OpenAI chat body for the upstream model `model` (its id decides how
 * `reasoning_effort` maps). The caller's body is never mutated.
 */
export function toGeminiRequest(body: Readonly<Obj>, model = ''): GeminiRequestResult {
  try {
    if (!Array.isArray(body.messages)) fail('messages must be an array');
    const system: string[] = [];
    const req: GeminiRequest = { contents: buildContents(body.messages, system) };
    if (system.length > 0) req.systemInstruction = { parts: [{ text: system.join('\n\n') }] };
    buildTools(body, req);
    const g = buildGenerationConfig(body, model);
    if (Object.keys(g).length > 0) req.generationConfig = g;
    return { ok: true, request: req };
  } catch (e) {
    if (e instanceof RequestError) return { ok: false, message: e.message };
    throw e;
  }
}
