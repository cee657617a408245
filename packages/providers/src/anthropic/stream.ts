/**
 * Anthropic Messages stream events → OpenAI `chat.completion.chunk` SSE, one translator per
 * stream.
 *
 * - `message_start` keeps id and input/cache counters and opens the stream with a
 *   `role: "assistant"` chunk (OpenAI clients key their accumulators on it).
 * - `text_delta` → `content`; `thinking_delta` → `reasoning_content`; a `tool_use` block start →
 *   a `tool_calls` delta with id, name and empty arguments; its `input_json_delta`s → argument
 *   deltas at the same tool ordinal (blocks are numbered across text and tools; tool calls are
 *   numbered among tools only, as OpenAI clients index them). A tool block that stops without a
 *   non-empty argument delta (a tool taking no input: Anthropic sends `partial_json: ""`) gets
 *   the JSON of its start `input` (`{}`) as its arguments, as the JSON answer does (providers.md
 *   §2.3): OpenAI `arguments` is always a JSON string, and clients `JSON.parse` it.
 * - `message_delta` raises the counters (some relays only report there) and emits the
 *   `finish_reason` chunk, carrying the usage when the event reported output tokens
 *   (providers.md §2.4); `message_stop` emits a usage-only chunk only when that did not happen
 *   and the caller asked for it (`stream_options.include_usage`), then `[DONE]`.
 * - `event: error` is an in-band failure with the status Anthropic documents for its type.
 *   EOF without `message_stop` is a failure too, unless the finish chunk already went out:
 *   Anthropic always ends with `message_stop`, so a cut stream must not look complete.
 *
 * `pushEvent` takes already-framed events for transports that do not speak SSE (Bedrock's event
 * stream carries the same JSON events).
 */
import type { StreamFailure, StreamOptions, StreamTranslator, Usage } from '../contract.js';
import { emptyUsage } from '../contract.js';
import { parseAnthropicWireError, truncateBytes } from '../shared/errors.js';
import { EVENT_TOO_LONG, SseDecoder } from '../shared/sse.js';
import { isObj } from './messages.js';
import { mapStopReason, openAiUsage } from './response.js';
import { ERROR_TYPE_STATUS } from './wire.js';

type Obj = Record<string, unknown>;

const DONE_FRAME = 'data: [DONE]\n\n';

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

interface Delta {
  role?: 'assistant';
  content?: string;
  reasoning_content?: string;
  tool_calls?: unknown[];
}

export class AnthropicStreamTranslator implements StreamTranslator {
  done = false;
  failure: StreamFailure | undefined;
  readonly usage: Usage = emptyUsage();
  sawOutput = false;
  delivered = 0;
  private readonly decoder = new SseDecoder();
  private readonly alias: string;
  private readonly forwardUsageChunk: boolean;
  private readonly created: number;
  private id = '';
  private opened = false;
  private finished = false;
  /** The finish chunk carried the usage (no usage-only chunk follows). */
  private usageSent = false;
  /** Content block index → tool-call ordinal. */
  private readonly tools = new Map<number, number>();
  /** Open tool blocks that have not streamed any argument text yet → the start block's `input`. */
  private readonly argless = new Map<number, unknown>();
  private out = '';
  private readonly onEvent = (data: string, event: string | undefined): void => this.event(data, event);

  constructor(options: StreamOptions, now: () => number = Date.now) {
    this.alias = options.alias;
    this.forwardUsageChunk = options.forwardUsageChunk;
    this.created = Math.floor(now() / 1000);
  }

  push(chunk: Buffer): string {
    if (this.done || this.failure) return '';
    this.decoder.push(chunk, this.onEvent);
    if (this.decoder.overflow) this.failure = { kind: 'decode', message: EVENT_TOO_LONG };
    return this.take();
  }

  end(): string {
    if (this.done || this.failure) return '';
    this.decoder.end(this.onEvent);
    return this.finish();
  }

  /** One event's JSON text (non-SSE transports); `event` is the SSE event name when known. */
  pushEvent(data: string, event?: string): string {
    if (this.done || this.failure) return '';
    this.event(data, event);
    return this.take();
  }

  /** Upstream EOF for `pushEvent` users (`end` calls it after flushing the SSE decoder). */
  finish(): string {
    if (!this.done && !this.failure) {
      if (this.finished) this.close();
      else this.failure = { kind: 'decode', message: 'upstream stream ended before message_stop' };
    }
    return this.take();
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }

  private event(data: string, name: string | undefined): void {
    if (this.done || this.failure) return;
    let ev: unknown;
    try {
      ev = JSON.parse(data);
    } catch {
      ev = undefined;
    }
    if (!isObj(ev)) {
      this.failure = {
        kind: 'decode',
        message: `upstream returned an unparseable stream event: ${truncateBytes(data, 256)}`,
      };
      return;
    }
    const type = typeof ev.type === 'string' ? ev.type : name;
    switch (type) {
      case 'message_start':
        this.messageStart(ev.message);
        break;
      case 'content_block_start':
        this.blockStart(ev);
        break;
      case 'content_block_delta':
        this.blockDelta(ev);
        break;
      case 'content_block_stop':
        this.blockStop(ev);
        break;
      case 'message_delta':
        this.messageDelta(ev);
        break;
      case 'message_stop':
        this.close();
        break;
      case 'error':
        this.inBandError(data);
        break;
      default:
        // ping and event types added later carry nothing for the caller.
        break;
    }
  }

  private messageStart(message: unknown): void {
    const m = isObj(message) ? message : {};
    if (typeof m.id === 'string') this.id = m.id;
    const u = isObj(m.usage) ? m.usage : {};
    // A new message_start resets the prompt side (spec: counters are per message).
    this.usage.prompt_tokens = count(u.input_tokens);
    this.usage.cache_creation_tokens = count(u.cache_creation_input_tokens);
    this.usage.cache_read_tokens = count(u.cache_read_input_tokens);
    this.usage.completion_tokens = Math.max(this.usage.completion_tokens, count(u.output_tokens));
    this.total();
    this.open();
  }

  private blockStart(ev: Obj): void {
    const block = isObj(ev.content_block) ? ev.content_block : {};
    const index = typeof ev.index === 'number' ? ev.index : -1;
    if (block.type === 'tool_use') {
      const ordinal = this.tools.size;
      this.tools.set(index, ordinal);
      this.argless.set(index, block.input);
      this.sawOutput = true;
      this.emit({
        tool_calls: [
          {
            index: ordinal,
            id: typeof block.id === 'string' ? block.id : '',
            type: 'function',
            function: { name: typeof block.name === 'string' ? block.name : '', arguments: '' },
          },
        ],
      });
    } else if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') {
      this.sawOutput = true;
      this.emit({ content: block.text });
    }
  }

  private blockDelta(ev: Obj): void {
    const d = isObj(ev.delta) ? ev.delta : {};
    if (d.type === 'text_delta' && typeof d.text === 'string' && d.text !== '') {
      this.sawOutput = true;
      this.emit({ content: d.text });
    } else if (d.type === 'thinking_delta' && typeof d.thinking === 'string' && d.thinking !== '') {
      this.sawOutput = true;
      this.emit({ reasoning_content: d.thinking });
    } else if (d.type === 'input_json_delta' && typeof d.partial_json === 'string' && d.partial_json !== '') {
      const index = typeof ev.index === 'number' ? ev.index : -1;
      const ordinal = this.tools.get(index);
      if (ordinal === undefined) return;
      this.argless.delete(index);
      this.emit({ tool_calls: [{ index: ordinal, function: { arguments: d.partial_json } }] });
    }
  }

  private blockStop(ev: Obj): void {
    const index = typeof ev.index === 'number' ? ev.index : -1;
    if (!this.argless.has(index)) return;
    const input = this.argless.get(index);
    this.argless.delete(index);
    const ordinal = this.tools.get(index);
    if (ordinal === undefined) return;
    const args = isObj(input) ? JSON.stringify(input) : '{}';
    this.emit({ tool_calls: [{ index: ordinal, function: { arguments: args } }] });
  }

  private messageDelta(ev: Obj): void {
    const u = isObj(ev.usage) ? ev.usage : {};
    const usage = this.usage;
    usage.prompt_tokens = Math.max(usage.prompt_tokens, count(u.input_tokens));
    usage.cache_creation_tokens = Math.max(usage.cache_creation_tokens, count(u.cache_creation_input_tokens));
    usage.cache_read_tokens = Math.max(usage.cache_read_tokens, count(u.cache_read_input_tokens));
    usage.completion_tokens = Math.max(usage.completion_tokens, count(u.output_tokens));
    this.total();
    const d = isObj(ev.delta) ? ev.delta : {};
    if (d.stop_reason !== undefined && d.stop_reason !== null && !this.finished) {
      this.finished = true;
      // providers.md §2.4: the finish chunk carries the usage when the upstream reported output
      // tokens, so a caller that did not ask for `include_usage` still sees it (as it would from
      // the reference); the usage-only chunk at the end is then not sent again.
      this.open();
      if (u.output_tokens === undefined) this.write({}, mapStopReason(d.stop_reason));
      else {
        this.usageSent = true;
        this.frame({
          choices: [{ index: 0, delta: {}, finish_reason: mapStopReason(d.stop_reason) }],
          usage: openAiUsage(usage),
        });
      }
    }
  }

  private inBandError(data: string): void {
    const info = parseAnthropicWireError(data);
    const status = info.kind ? ERROR_TYPE_STATUS[info.kind] : undefined;
    this.failure = { kind: 'in_band', error: status ? { ...info, status } : info };
  }

  private total(): void {
    const u = this.usage;
    u.total_tokens = u.prompt_tokens + u.completion_tokens + u.cache_creation_tokens + u.cache_read_tokens;
  }

  private open(): void {
    if (this.opened) return;
    this.opened = true;
    this.write({ role: 'assistant' }, undefined);
  }

  private emit(delta: Delta, finishReason?: string): void {
    this.open();
    this.write(delta, finishReason);
  }

  private write(delta: Delta, finishReason: string | undefined): void {
    const choice =
      finishReason === undefined ? { index: 0, delta } : { index: 0, delta, finish_reason: finishReason };
    this.frame({ choices: [choice] });
  }

  private frame(rest: { choices: unknown[]; usage?: unknown }): void {
    const chunk = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.alias,
      ...rest,
    };
    this.out += `data: ${JSON.stringify(chunk)}\n\n`;
    this.delivered++;
  }

  private close(): void {
    if (this.forwardUsageChunk && !this.usageSent)
      this.frame({ choices: [], usage: openAiUsage(this.usage) });
    this.done = true;
    this.out += DONE_FRAME;
  }
}

export function createAnthropicStreamTranslator(options: StreamOptions): AnthropicStreamTranslator {
  return new AnthropicStreamTranslator(options);
}
