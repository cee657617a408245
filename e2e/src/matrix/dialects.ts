/**
 * The ingress dialects of the matrix, as data: each one drives the official SDK of its API
 * (`openai` chat.completions / responses, `@anthropic-ai/sdk` messages; `maxRetries: 0`) through
 * the three steps of the scenario, and reads back what the caller saw in one shape (text, tool
 * calls, finish, usage). For the error checks each also sends the same request with plain HTTP and
 * reads its error envelope / stream error frame exactly as the dialect defines them.
 */
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { request } from 'undici';
import {
  PROMPT,
  TOOL_DESCRIPTION,
  TOOL_NAME,
  TOOL_PARAMETERS,
  TOOL_PROMPT,
  TOOL_RESULT,
} from '../fixtures/scenario.js';
import { isObj } from './probes.js';
import { CALLER_KEY, type DialectId } from './upstreams.js';

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly args: unknown;
}

export interface Outcome {
  readonly model: string;
  readonly text: string;
  readonly calls: readonly ToolCall[];
  /** Normalised: 'stop' | 'tool' (anything else verbatim). */
  readonly finish: string;
  readonly usage: { readonly input: number; readonly output: number; readonly total?: number };
  /** Streams: the dialect's normal end was seen (chat: finished iteration; messages: message_stop; responses: response.completed). */
  readonly completed: boolean;
  /** Chat streams: the first chunk carried `delta.role: "assistant"`. */
  readonly openedWithRole?: boolean;
}

/** What the SDK surfaced for a failing call. */
export interface SdkFailure {
  /** `client-error`: the SDK itself failed (e.g. it could not parse a relayed frame). */
  readonly kind: 'http' | 'stream-error' | 'client-error' | 'none';
  readonly status?: number | undefined;
  readonly type?: string | undefined;
  readonly code?: string | undefined;
  readonly message?: string | undefined;
  readonly retryAfter?: string | null | undefined;
  readonly detail?: string;
}

export interface RawResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface ErrorInfo {
  readonly type: string;
  readonly code?: string | undefined;
  readonly message: string;
}

export interface Dialect {
  readonly id: DialectId;
  /** Caller-side `type` for an HTTP status in this dialect's envelope (undefined: OpenAI-style gateway types). */
  readonly envelope: 'openai' | 'anthropic';
  run(base: string, alias: string, stream: boolean, step: 'text' | 'tool'): Promise<Outcome>;
  final(base: string, alias: string, stream: boolean, call: ToolCall): Promise<Outcome>;
  sdkFailure(base: string, alias: string, stream: boolean): Promise<SdkFailure>;
  raw(base: string, alias: string, stream: boolean): Promise<RawResult>;
  /** Parses and shape-checks a non-2xx body in this dialect's envelope. */
  errorOf(raw: RawResult): ErrorInfo;
  /** Parses a 200 SSE body that must end in this dialect's error frame, without the normal terminator. */
  streamErrorOf(raw: RawResult): ErrorInfo;
}

export interface SseFrame {
  readonly event: string | undefined;
  readonly data: string;
}

export function parseSse(body: string): SseFrame[] {
  const frames: SseFrame[] = [];
  for (const block of body.split(/\r\n\r\n|\n\n|\r\r/)) {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(line.charAt(5) === ' ' ? 6 : 5));
    }
    if (event !== undefined || data.length > 0) frames.push({ event, data: data.join('\n') });
  }
  return frames;
}

function parseJson(text: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    assert.fail(`${what} is not JSON: ${text.slice(0, 300)}`);
  }
  assert.ok(isObj(v), `${what} is not a JSON object: ${text.slice(0, 300)}`);
  return v;
}

const schema = () =>
  JSON.parse(JSON.stringify(TOOL_PARAMETERS)) as {
    type: 'object';
    properties: Record<string, unknown>;
    required: string[];
  };

const PROBE_HEADERS = {
  'x-aisix-probe': 'caller-probe-value',
  'x-aisix-request-id': 'caller-chosen-request-id',
};

async function rawPost(
  base: string,
  path: string,
  headers: Record<string, string>,
  body: unknown,
): Promise<RawResult> {
  const r = await request(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...PROBE_HEADERS, ...headers },
    body: JSON.stringify(body),
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
}

function apiFailure(e: unknown): SdkFailure {
  if (e instanceof OpenAI.APIError) {
    const err = isObj(e.error) ? e.error : {};
    return {
      kind: e.status === undefined ? 'stream-error' : 'http',
      status: e.status,
      type: typeof err.type === 'string' ? err.type : undefined,
      code: typeof err.code === 'string' ? err.code : undefined,
      message: typeof err.message === 'string' ? err.message : undefined,
      retryAfter: e.headers?.get('retry-after') ?? null,
      detail: e.message,
    };
  }
  if (e instanceof Anthropic.APIError) {
    const body = isObj(e.error) ? e.error : {};
    const inner = isObj(body.error) ? body.error : {};
    assert.equal(body.type, 'error', `Anthropic error body: ${JSON.stringify(body)}`);
    return {
      kind: e.status === undefined ? 'stream-error' : 'http',
      status: e.status,
      type: typeof inner.type === 'string' ? inner.type : undefined,
      message: typeof inner.message === 'string' ? inner.message : undefined,
      retryAfter: e.headers?.get('retry-after') ?? null,
      detail: e.message,
    };
  }
  return { kind: 'client-error', detail: String(e) };
}

/** A stream's failure reported in-band (an error event the SDK yields rather than throws). */
class StreamFailed extends Error {
  constructor(readonly failure: SdkFailure) {
    super(`stream error event: ${failure.type}: ${failure.message}`);
  }
}

/** One SDK client per gateway base URL. */
function perBase<C>(make: (base: string) => C): (base: string) => C {
  const clients = new Map<string, C>();
  return (base) => {
    let c = clients.get(base);
    if (!c) {
      c = make(base);
      clients.set(base, c);
    }
    return c;
  };
}

/** Tool calls accumulated from a stream, by index, in index order (arguments parsed). */
function orderedCalls(acc: ReadonlyMap<number, { id: string; name: string; args: string }>): ToolCall[] {
  return [...acc.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, v]) => ({ id: v.id, name: v.name, args: JSON.parse(v.args || '{}') as unknown }));
}

/** `stream` for a raw request body (the SDKs set it themselves); nothing for an SDK call. */
const streamField = (stream: boolean | undefined) => (stream === undefined ? {} : { stream });

/** What makes one dialect: its requests, how its SDK runs them, and its error shapes. */
interface DialectSpec<P> {
  readonly id: DialectId;
  readonly envelope: 'openai' | 'anthropic';
  /** The raw request's path and caller credential headers. */
  readonly path: string;
  readonly auth: Record<string, string>;
  /** One user turn of `prompt` capped at `maxTokens` (with the tool when `tools`; `stream` for raw bodies). */
  ask(alias: string, maxTokens: number, prompt: string, opts?: { tools?: boolean; stream?: boolean }): P;
  /** The tool round trip's last request: the prompt, the model's call and its result. */
  answer(alias: string, call: ToolCall): P;
  /** Sends `params` through the official SDK and reads back what the caller saw. */
  exec(base: string, stream: boolean, params: P): Promise<Outcome>;
  /** Parses and shape-checks a non-2xx body. */
  errorOf(text: string): ErrorInfo;
  streamErrorOf(raw: RawResult): ErrorInfo;
}

function dialect<P>(d: DialectSpec<P>): Dialect {
  return {
    id: d.id,
    envelope: d.envelope,
    run: (base, alias, stream, step) =>
      d.exec(
        base,
        stream,
        d.ask(alias, 256, step === 'text' ? PROMPT : TOOL_PROMPT, { tools: step === 'tool' }),
      ),
    final: (base, alias, stream, call) => d.exec(base, stream, d.answer(alias, call)),
    async sdkFailure(base, alias, stream) {
      try {
        const o = await d.exec(base, stream, d.ask(alias, 64, PROMPT));
        return { kind: 'none', detail: JSON.stringify(o) };
      } catch (e) {
        if (e instanceof StreamFailed) return e.failure;
        return apiFailure(e);
      }
    },
    raw: (base, alias, stream) => rawPost(base, d.path, d.auth, d.ask(alias, 64, PROMPT, { stream })),
    errorOf: (raw) => d.errorOf(raw.body),
    streamErrorOf: (raw) => d.streamErrorOf(raw),
  };
}

/**
 * The error frame that must end a failed stream (chat and messages): no `terminator` frame
 * (`why` says which), and a last frame of event `error` whose data `envelope` parses.
 */
function lastErrorFrame(
  raw: RawResult,
  terminator: (f: SseFrame) => boolean,
  why: string,
  lastFrame: string,
  envelope: (text: string) => ErrorInfo,
): ErrorInfo {
  const frames = parseSse(raw.body);
  assert.ok(!frames.some(terminator), why);
  const last = frames.at(-1);
  assert.ok(last, `empty stream body: ${raw.body}`);
  assert.equal(last.event, 'error', `last frame is not ${lastFrame}: ${JSON.stringify(last)}`);
  return envelope(last.data);
}

// ---------------------------------------------------------------- OpenAI chat completions

const openai = perBase(
  (base) =>
    new OpenAI({
      apiKey: CALLER_KEY,
      baseURL: `${base}/v1`,
      maxRetries: 0,
      defaultHeaders: PROBE_HEADERS,
    }),
);

type ChatParams = OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;
const chatTools: ChatParams['tools'] = [
  { type: 'function', function: { name: TOOL_NAME, description: TOOL_DESCRIPTION, parameters: schema() } },
];

async function chatRun(base: string, stream: boolean, params: Omit<ChatParams, 'stream'>): Promise<Outcome> {
  const c = openai(base);
  if (!stream) {
    const r = await c.chat.completions.create({ ...params, stream: false });
    const choice = r.choices[0];
    assert.ok(choice, 'no choice');
    const calls = (choice.message.tool_calls ?? []).map((tc) => {
      assert.equal(tc.type, 'function');
      if (tc.type !== 'function') throw new Error('unreachable');
      return { id: tc.id, name: tc.function.name, args: JSON.parse(tc.function.arguments) as unknown };
    });
    return {
      model: r.model,
      text: choice.message.content ?? '',
      calls,
      finish: choice.finish_reason === 'tool_calls' ? 'tool' : choice.finish_reason,
      usage: {
        input: r.usage?.prompt_tokens ?? -1,
        output: r.usage?.completion_tokens ?? -1,
        total: r.usage?.total_tokens ?? -1,
      },
      completed: true,
    };
  }
  const s = await c.chat.completions.create({
    ...params,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = '';
  let model = '';
  let first = true;
  let openedWithRole = false;
  let usage = { input: -1, output: -1, total: -1 };
  const acc = new Map<number, { id: string; name: string; args: string }>();
  for await (const chunk of s) {
    if (model === '' || chunk.model !== model) model = model === '' ? chunk.model : `${model}|${chunk.model}`;
    const ch = chunk.choices[0];
    // The first chunk with a choice (Azure opens with a choice-less prompt-filter chunk).
    if (first && ch) {
      openedWithRole = ch.delta.role === 'assistant';
      first = false;
    }
    if (ch?.delta.content) text += ch.delta.content;
    for (const tc of ch?.delta.tool_calls ?? []) {
      const cur = acc.get(tc.index) ?? { id: '', name: '', args: '' };
      if (tc.id) cur.id = tc.id;
      if (tc.function?.name) cur.name += tc.function.name;
      if (tc.function?.arguments) cur.args += tc.function.arguments;
      acc.set(tc.index, cur);
    }
    if (ch?.finish_reason) finish = ch.finish_reason === 'tool_calls' ? 'tool' : ch.finish_reason;
    if (chunk.usage) {
      usage = {
        input: chunk.usage.prompt_tokens,
        output: chunk.usage.completion_tokens,
        total: chunk.usage.total_tokens,
      };
    }
  }
  return { model, text, calls: orderedCalls(acc), finish, usage, completed: true, openedWithRole };
}

const chat = dialect<Omit<ChatParams, 'stream'>>({
  id: 'openai-chat',
  envelope: 'openai',
  path: '/v1/chat/completions',
  auth: { authorization: `Bearer ${CALLER_KEY}` },
  ask: (alias, maxTokens, prompt, opts) => ({
    model: alias,
    max_tokens: maxTokens,
    ...streamField(opts?.stream),
    messages: [{ role: 'user', content: prompt }],
    ...(opts?.tools ? { tools: chatTools } : {}),
  }),
  answer: (alias, call) => ({
    model: alias,
    max_tokens: 256,
    tools: chatTools,
    messages: [
      { role: 'user', content: TOOL_PROMPT },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: call.id,
            type: 'function',
            function: { name: call.name, arguments: JSON.stringify(call.args) },
          },
        ],
      },
      { role: 'tool', tool_call_id: call.id, content: TOOL_RESULT },
    ],
  }),
  exec: chatRun,
  errorOf: (text) => openAiEnvelope(text),
  streamErrorOf: (raw) =>
    lastErrorFrame(
      raw,
      (f) => f.data.trim() === '[DONE]',
      'a failed stream must not end with [DONE]',
      'an error frame',
      openAiEnvelope,
    ),
});

function openAiEnvelope(text: string): ErrorInfo {
  const body = parseJson(text, 'OpenAI error envelope');
  const err = body.error;
  assert.ok(isObj(err), `no error object: ${text}`);
  assert.equal(typeof err.message, 'string', 'error.message');
  assert.equal(typeof err.type, 'string', 'error.type');
  assert.ok(
    err.code === undefined || typeof err.code === 'string',
    `error.code is omitted or a string: ${text}`,
  );
  return { type: String(err.type), code: err.code as string | undefined, message: String(err.message) };
}

// ---------------------------------------------------------------- Anthropic messages

const anthropic = perBase(
  (base) =>
    new Anthropic({ apiKey: CALLER_KEY, baseURL: base, maxRetries: 0, defaultHeaders: PROBE_HEADERS }),
);

type MsgParams = Anthropic.MessageCreateParamsNonStreaming;
const msgTools: MsgParams['tools'] = [
  { name: TOOL_NAME, description: TOOL_DESCRIPTION, input_schema: schema() },
];

async function messagesRun(
  base: string,
  stream: boolean,
  params: Omit<MsgParams, 'stream'>,
): Promise<Outcome> {
  const c = anthropic(base);
  const norm = (r: string | null | undefined) =>
    r === 'end_turn' ? 'stop' : r === 'tool_use' ? 'tool' : String(r);
  if (!stream) {
    const m = await c.messages.create({ ...params, stream: false });
    let text = '';
    const calls: ToolCall[] = [];
    for (const b of m.content) {
      if (b.type === 'text') text += b.text;
      else if (b.type === 'tool_use') calls.push({ id: b.id, name: b.name, args: b.input });
    }
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    return {
      model: m.model,
      text,
      calls,
      finish: norm(m.stop_reason),
      usage: { input: m.usage.input_tokens, output: m.usage.output_tokens },
      completed: true,
    };
  }
  const s = await c.messages.create({ ...params, stream: true });
  let text = '';
  let model = '';
  let finish = '';
  let input = -1;
  let output = -1;
  let completed = false;
  const blocks = new Map<number, { id: string; name: string; args: string }>();
  for await (const ev of s) {
    switch (ev.type) {
      case 'message_start':
        model = ev.message.model;
        input = ev.message.usage.input_tokens;
        break;
      case 'content_block_start':
        if (ev.content_block.type === 'tool_use') {
          blocks.set(ev.index, { id: ev.content_block.id, name: ev.content_block.name, args: '' });
        }
        break;
      case 'content_block_delta':
        if (ev.delta.type === 'text_delta') text += ev.delta.text;
        else if (ev.delta.type === 'input_json_delta') {
          const b = blocks.get(ev.index);
          assert.ok(b, `input_json_delta for block ${ev.index} without a tool_use start`);
          b.args += ev.delta.partial_json;
        }
        break;
      case 'message_delta':
        finish = norm(ev.delta.stop_reason);
        output = ev.usage.output_tokens;
        input = Math.max(input, ev.usage.input_tokens ?? 0);
        break;
      case 'message_stop':
        completed = true;
        break;
    }
  }
  return { model, text, calls: orderedCalls(blocks), finish, usage: { input, output }, completed };
}

const messages = dialect<Omit<MsgParams, 'stream'>>({
  id: 'anthropic-messages',
  envelope: 'anthropic',
  path: '/v1/messages',
  auth: { 'x-api-key': CALLER_KEY, 'anthropic-version': '2023-06-01' },
  ask: (alias, maxTokens, prompt, opts) => ({
    model: alias,
    max_tokens: maxTokens,
    ...streamField(opts?.stream),
    messages: [{ role: 'user', content: prompt }],
    ...(opts?.tools ? { tools: msgTools } : {}),
  }),
  answer: (alias, call) => ({
    model: alias,
    max_tokens: 256,
    tools: msgTools,
    messages: [
      { role: 'user', content: TOOL_PROMPT },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: call.id, name: call.name, input: call.args }],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: TOOL_RESULT }] },
    ],
  }),
  exec: messagesRun,
  errorOf: (text) => anthropicEnvelope(text),
  streamErrorOf: (raw) =>
    lastErrorFrame(
      raw,
      (f) => f.event === 'message_stop',
      'a failed stream must not end with message_stop',
      'an error event',
      anthropicEnvelope,
    ),
});

function anthropicEnvelope(text: string): ErrorInfo {
  const body = parseJson(text, 'Anthropic error envelope');
  assert.equal(body.type, 'error', `envelope type: ${text}`);
  const err = body.error;
  assert.ok(isObj(err), `no error object: ${text}`);
  assert.equal(typeof err.type, 'string', 'error.type');
  assert.equal(typeof err.message, 'string', 'error.message');
  return { type: String(err.type), message: String(err.message) };
}

// ---------------------------------------------------------------- OpenAI Responses

type RespParams = OpenAI.Responses.ResponseCreateParamsNonStreaming;
const respTools: RespParams['tools'] = [
  { type: 'function', name: TOOL_NAME, description: TOOL_DESCRIPTION, parameters: schema(), strict: false },
];

function responseCalls(output: readonly OpenAI.Responses.ResponseOutputItem[]): ToolCall[] {
  const calls: ToolCall[] = [];
  for (const item of output) {
    if (item.type === 'function_call') {
      calls.push({ id: item.call_id, name: item.name, args: JSON.parse(item.arguments || '{}') as unknown });
    }
  }
  return calls;
}

function responseText(output: readonly OpenAI.Responses.ResponseOutputItem[]): string {
  let text = '';
  for (const item of output) {
    if (item.type !== 'message') continue;
    for (const c of item.content) if (c.type === 'output_text') text += c.text;
  }
  return text;
}

async function responsesRun(
  base: string,
  stream: boolean,
  params: Omit<RespParams, 'stream'>,
): Promise<Outcome> {
  const c = openai(base);
  if (!stream) {
    const r = await c.responses.create({ ...params, stream: false });
    const calls = responseCalls(r.output);
    assert.equal(r.object, 'response');
    return {
      model: r.model,
      text: responseText(r.output),
      calls,
      finish: r.status === 'completed' ? (calls.length > 0 ? 'tool' : 'stop') : String(r.status),
      usage: {
        input: r.usage?.input_tokens ?? -1,
        output: r.usage?.output_tokens ?? -1,
        total: r.usage?.total_tokens ?? -1,
      },
      completed: r.status === 'completed',
    };
  }
  const s = await c.responses.create({ ...params, stream: true });
  let text = '';
  let model = '';
  let finish = '';
  let completed = false;
  let usage = { input: -1, output: -1, total: -1 };
  const calls: ToolCall[] = [];
  let failure: SdkFailure | undefined;
  let lastSeq = -1;
  for await (const ev of s) {
    assert.ok(
      ev.sequence_number > lastSeq,
      `sequence_number must increase (${lastSeq} → ${ev.sequence_number})`,
    );
    lastSeq = ev.sequence_number;
    switch (ev.type) {
      case 'response.created':
        model = ev.response.model;
        break;
      case 'response.output_text.delta':
        text += ev.delta;
        break;
      case 'response.output_item.done':
        if (ev.item.type === 'function_call') {
          calls.push({
            id: ev.item.call_id,
            name: ev.item.name,
            args: JSON.parse(ev.item.arguments || '{}') as unknown,
          });
        }
        break;
      case 'response.completed': {
        completed = true;
        model = ev.response.model;
        const u = ev.response.usage;
        usage = {
          input: u?.input_tokens ?? -1,
          output: u?.output_tokens ?? -1,
          total: u?.total_tokens ?? -1,
        };
        finish = calls.length > 0 ? 'tool' : 'stop';
        assert.equal(responseText(ev.response.output), text, 'completed output text = streamed deltas');
        break;
      }
      case 'error':
        failure = { kind: 'stream-error', type: ev.code ?? undefined, message: ev.message };
        break;
    }
  }
  if (failure) throw new StreamFailed(failure);
  return { model, text, calls, finish, usage, completed };
}

const responses = dialect<Omit<RespParams, 'stream'>>({
  id: 'openai-responses',
  envelope: 'openai',
  path: '/v1/responses',
  auth: { authorization: `Bearer ${CALLER_KEY}` },
  ask: (alias, maxTokens, prompt, opts) => ({
    model: alias,
    max_output_tokens: maxTokens,
    ...streamField(opts?.stream),
    input: prompt,
    ...(opts?.tools ? { tools: respTools } : {}),
  }),
  answer: (alias, call) => ({
    model: alias,
    max_output_tokens: 256,
    tools: respTools,
    input: [
      { role: 'user', content: TOOL_PROMPT },
      { type: 'function_call', call_id: call.id, name: call.name, arguments: JSON.stringify(call.args) },
      { type: 'function_call_output', call_id: call.id, output: TOOL_RESULT },
    ],
  }),
  exec: responsesRun,
  errorOf: (text) => openAiEnvelope(text),
  streamErrorOf(raw) {
    const frames = parseSse(raw.body);
    assert.ok(
      !frames.some((f) => f.event === 'response.completed'),
      'a failed stream must not carry response.completed',
    );
    const last = frames.at(-1);
    assert.ok(last, `empty stream body: ${raw.body}`);
    assert.ok(
      last.event === 'error' || last.event === 'response.failed',
      `last frame is not error/response.failed: ${JSON.stringify(last)}`,
    );
    const errFrame = frames.find((f) => f.event === 'error');
    assert.ok(errFrame, 'no error event');
    const body = parseJson(errFrame.data, 'Responses error event');
    assert.equal(body.type, 'error');
    assert.equal(typeof body.message, 'string', 'error event message');
    assert.equal(typeof body.code, 'string', 'error event code');
    return { type: String(body.code), message: String(body.message) };
  },
});

export const DIALECTS: readonly Dialect[] = [chat, messages, responses];
