/**
 * Bedrock ConverseStream (binary event stream) → caller OpenAI SSE chunks.
 *
 * Events (`:event-type`) and what they become:
 * - messageStart → a `role: assistant` delta (opens every stream, decision OP-4);
 * - contentBlockStart with `start.toolUse` → a `tool_calls` delta with id, name and empty
 *   arguments; the OpenAI tool index counts tool blocks, not content blocks;
 * - contentBlockDelta → `content` (text), `tool_calls[].function.arguments` (toolUse.input
 *   fragments), or `reasoning_content` (reasoningContent.text);
 * - contentBlockStop → nothing, except for a tool block that streamed no argument text (a tool
 *   without parameters: Bedrock sends an empty `input` fragment, or none): it gets `{}` as its
 *   arguments, what the non-streaming answer carries, since OpenAI clients `JSON.parse` them;
 * - messageStop → an empty delta with the mapped `finish_reason`;
 * - metadata → usage (max-so-far); the usage-only chunk is forwarded when the caller asked for
 *   it, then `[DONE]`. metadata is Bedrock's last event, so it is the terminator.
 * - `:message-type: exception` / `error` frames → in-band failure with the exception name and the
 *   code/status of errors.ts. Bad framing (CRC, lengths) → decode failure.
 *
 * EOF inside a frame, or before messageStop, is a truncated stream (decode failure, so the
 * gateway ends with an error frame instead of a clean `[DONE]`). EOF after messageStop without
 * metadata is a normal end.
 */
import type { StreamFailure, StreamOptions, StreamTranslator, Usage } from '../contract.js';
import { emptyUsage } from '../contract.js';
import { maxInto } from '../shared/usage.js';
import { mapStopReason, newCompletionId, openAiUsage, readConverseUsage } from './converse-response.js';
import { streamExceptionInfo } from './errors.js';
import { EventStreamDecoder, EventStreamError, type EventStreamMessage } from './event-stream.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export class ConverseStreamTranslator implements StreamTranslator {
  done = false;
  failure: StreamFailure | undefined;
  readonly usage: Usage = emptyUsage();
  sawOutput = false;
  delivered = 0;
  private readonly decoder = new EventStreamDecoder();
  private readonly id = newCompletionId();
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly model: string;
  private readonly forwardUsageChunk: boolean;
  private roleSent = false;
  private stopped = false;
  /** contentBlockIndex → OpenAI tool_calls index. */
  private readonly toolIndex = new Map<number, number>();
  /** Tool blocks (contentBlockIndex) that have not streamed any argument text yet. */
  private readonly argless = new Set<number>();
  private out = '';

  constructor(options: StreamOptions) {
    this.model = options.alias;
    this.forwardUsageChunk = options.forwardUsageChunk;
  }

  push(chunk: Buffer): string {
    if (this.done || this.failure) return '';
    let messages: EventStreamMessage[];
    try {
      messages = this.decoder.push(chunk);
    } catch (e) {
      this.failure = { kind: 'decode', message: `upstream returned an unparseable stream: ${errorText(e)}` };
      return this.take();
    }
    for (const m of messages) {
      if (this.done || this.failure) break;
      this.message(m);
    }
    return this.take();
  }

  end(): string {
    if (this.done || this.failure) return '';
    if (this.decoder.pending > 0) {
      this.failure = { kind: 'decode', message: 'upstream stream ended inside an event frame' };
    } else if (!this.stopped) {
      this.failure = { kind: 'decode', message: 'upstream stream ended before messageStop' };
    } else {
      this.finish();
    }
    return this.take();
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }

  private message(m: EventStreamMessage): void {
    const type = m.headers[':message-type'];
    if (type === 'exception') {
      const name = String(m.headers[':exception-type'] ?? 'UnknownException');
      this.failure = { kind: 'in_band', error: streamExceptionInfo(name, m.payload.toString('utf8')) };
      return;
    }
    if (type === 'error') {
      const name = String(m.headers[':error-code'] ?? 'UnknownError');
      const msg = JSON.stringify({ message: String(m.headers[':error-message'] ?? '') });
      this.failure = { kind: 'in_band', error: streamExceptionInfo(name, msg) };
      return;
    }
    let ev: unknown;
    try {
      ev = JSON.parse(m.payload.toString('utf8'));
    } catch {
      this.failure = { kind: 'decode', message: 'upstream returned an unparseable stream event payload' };
      return;
    }
    if (!isObj(ev)) return;
    switch (m.headers[':event-type']) {
      case 'messageStart':
        this.role();
        break;
      case 'contentBlockStart':
        this.blockStart(ev);
        break;
      case 'contentBlockDelta':
        this.blockDelta(ev);
        break;
      case 'contentBlockStop':
        this.blockStop(ev);
        break;
      case 'messageStop':
        this.closeArgless();
        this.role();
        this.stopped = true;
        this.emit({}, mapStopReason(ev.stopReason));
        break;
      case 'metadata':
        this.metadata(ev);
        break;
      default:
        // Event types added later carry nothing the caller needs.
        break;
    }
  }

  private role(): void {
    if (this.roleSent) return;
    this.roleSent = true;
    this.emit({ role: 'assistant', content: '' });
  }

  private blockStart(ev: Obj): void {
    const start = isObj(ev.start) ? ev.start : {};
    if (!isObj(start.toolUse)) return;
    this.role();
    const block = typeof ev.contentBlockIndex === 'number' ? ev.contentBlockIndex : -1;
    const index = this.toolIndex.size;
    this.toolIndex.set(block, index);
    this.argless.add(block);
    const t = start.toolUse;
    this.sawOutput = true;
    this.emit({
      tool_calls: [
        {
          index,
          id: typeof t.toolUseId === 'string' ? t.toolUseId : '',
          type: 'function',
          function: { name: typeof t.name === 'string' ? t.name : '', arguments: '' },
        },
      ],
    });
  }

  private blockDelta(ev: Obj): void {
    const d = isObj(ev.delta) ? ev.delta : {};
    this.role();
    if (typeof d.text === 'string') {
      if (d.text === '') return;
      this.sawOutput = true;
      this.emit({ content: d.text });
    } else if (isObj(d.toolUse)) {
      const block = typeof ev.contentBlockIndex === 'number' ? ev.contentBlockIndex : -1;
      const index = this.toolIndex.get(block) ?? 0;
      const input = typeof d.toolUse.input === 'string' ? d.toolUse.input : '';
      if (input === '') return;
      this.argless.delete(block);
      this.emit({ tool_calls: [{ index, function: { arguments: input } }] });
    } else if (isObj(d.reasoningContent) && typeof d.reasoningContent.text === 'string') {
      if (d.reasoningContent.text === '') return;
      this.sawOutput = true;
      this.emit({ reasoning_content: d.reasoningContent.text });
    }
  }

  private blockStop(ev: Obj): void {
    const block = typeof ev.contentBlockIndex === 'number' ? ev.contentBlockIndex : -1;
    if (!this.argless.delete(block)) return;
    this.emit({ tool_calls: [{ index: this.toolIndex.get(block) ?? 0, function: { arguments: '{}' } }] });
  }

  /** A tool block the stream never stopped (messageStop came first) still gets `{}`. */
  private closeArgless(): void {
    for (const block of [...this.argless]) this.blockStop({ contentBlockIndex: block });
  }

  private metadata(ev: Obj): void {
    maxInto(this.usage, readConverseUsage(ev.usage));
    if (this.forwardUsageChunk) {
      this.out += `data: ${JSON.stringify({
        id: this.id,
        object: 'chat.completion.chunk',
        created: this.created,
        model: this.model,
        choices: [],
        usage: openAiUsage(this.usage),
      })}\n\n`;
      this.delivered++;
    }
    this.finish();
  }

  private finish(): void {
    this.done = true;
    this.out += 'data: [DONE]\n\n';
  }

  private emit(delta: Obj, finish?: string): void {
    const choice: Obj = { index: 0, delta };
    if (finish !== undefined) choice.finish_reason = finish;
    this.out += `data: ${JSON.stringify({
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [choice],
    })}\n\n`;
    this.delivered++;
  }
}

function errorText(e: unknown): string {
  return e instanceof EventStreamError ? e.message : 'invalid event-stream framing';
}
