/**
 * OpenAI chat chunks → OpenAI Responses event stream, for bridged `/v1/responses` streams.
 *
 * Every frame is `event: <type>\ndata: <json>\n\n` with a growing `sequence_number`. The stream
 * opens with `response.created` + `response.in_progress` on the first meaningful chunk; text is
 * one `message` item (`output_item.added`, `content_part.added`, `output_text.delta`..., then the
 * `.done` events), each tool call one `function_call` item (`output_item.added`,
 * `function_call_arguments.delta`..., `.done`). Items are written one after another. The terminal
 * `response.completed` (or `response.incomplete`) carries the whole object with usage, and is
 * held back until usage arrived or the upstream ended.
 */
import { emptyUsage, type Usage } from '../../contract.js';
import { readOpenAiUsage } from '../../shared/usage.js';
import type { DialectEncoder } from '../shared/bridge.js';
import { type ChatChunk, type ChatToolCall, hexId, isObject, type Json } from '../shared/chat-types.js';
import { sseEvent } from '../shared/sse.js';
import {
  functionCallItem,
  incompleteReason,
  messageItem,
  newHead,
  type ResponseHead,
  responseObject,
  responsesUsage,
} from './response.js';

interface Item {
  readonly kind: 'message' | 'function_call';
  readonly id: string;
  outputIndex: number | undefined;
  text: string;
  callId: string;
  name: string;
}

export class ResponsesEncoder implements DialectEncoder {
  closed = false;
  private seq = 0;
  private started = false;
  private readonly head: ResponseHead;
  private readonly output: Json[] = [];
  private open: Item | undefined;
  private readonly calls = new Map<number, Item>();
  private finish_: string | null | undefined;
  private finished = false;
  private sawUsage = false;
  private readonly usage = emptyUsage();

  constructor(
    alias: string,
    /** The family translator's counters (cache reads included), when the bridge has them. */
    private readonly upstream?: () => Usage,
    echo?: Json,
  ) {
    this.head = newHead(alias, echo);
  }

  chunk(c: ChatChunk): string {
    if (this.closed) return '';
    if (isObject(c.usage)) {
      readOpenAiUsage(c.usage, this.usage);
      this.sawUsage = true;
    }
    const choice = c.choices?.[0];
    const text = typeof choice?.delta?.content === 'string' ? choice.delta.content : '';
    const calls = Array.isArray(choice?.delta?.tool_calls) ? choice.delta.tool_calls : [];
    const fin = choice?.finish_reason;
    let out = '';
    if (!this.started && (text !== '' || calls.length > 0 || fin || this.sawUsage)) out += this.start();
    if (text !== '') out += this.text(text);
    for (const call of calls) out += this.toolDelta(call);
    if (fin && !this.finished) {
      this.finished = true;
      this.finish_ = fin;
      out += this.closeOpen();
    }
    if (this.finished && this.sawUsage) out += this.terminal();
    return out;
  }

  finish(): string {
    if (this.closed) return '';
    return (this.started ? '' : this.start()) + this.closeOpen() + this.terminal();
  }

  errorFrame(message: string, type: string): string {
    let out = this.emit('error', { code: type, message, param: null });
    if (this.started) {
      // The partial response: every finished item, and the one cut short as `incomplete` with
      // what it had received.
      const open = this.open;
      const output =
        open === undefined
          ? this.output
          : [
              ...this.output,
              open.kind === 'message'
                ? messageItem(open.id, open.text, 'incomplete')
                : functionCallItem(open.id, open.callId, open.name, open.text, 'incomplete'),
            ];
      const failed = responseObject(this.head, 'failed', output, null, {
        error: { code: type, message },
      });
      out += this.emit('response.failed', { response: failed });
    }
    return out;
  }

  private emit(type: string, fields: Json): string {
    return sseEvent(type, { type, sequence_number: this.seq++, ...fields });
  }

  private start(): string {
    this.started = true;
    const r = responseObject(this.head, 'in_progress', [], null);
    return (
      this.emit('response.created', { response: r }) + this.emit('response.in_progress', { response: r })
    );
  }

  private openItem(item: Item, added: Json): string {
    const out = this.closeOpen();
    item.outputIndex = this.output.length;
    this.open = item;
    return out + this.emit('response.output_item.added', { output_index: item.outputIndex, item: added });
  }

  private text(delta: string): string {
    let out = '';
    let item = this.open;
    if (item?.kind !== 'message') {
      item = {
        kind: 'message',
        id: `msg_${hexId()}`,
        outputIndex: undefined,
        text: '',
        callId: '',
        name: '',
      };
      out += this.openItem(item, { ...messageItem(item.id, '', 'in_progress'), content: [] });
      out += this.emit('response.content_part.added', {
        item_id: item.id,
        output_index: item.outputIndex,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [] },
      });
    }
    item.text += delta;
    const at = { item_id: item.id, output_index: item.outputIndex, content_index: 0 };
    return out + this.emit('response.output_text.delta', { ...at, delta, logprobs: [] });
  }

  private toolDelta(call: ChatToolCall): string {
    const key = typeof call.index === 'number' ? call.index : 0;
    let item = this.calls.get(key);
    if (!item) {
      item = {
        kind: 'function_call',
        id: `fc_${hexId()}`,
        outputIndex: undefined,
        text: '',
        callId: '',
        name: '',
      };
      this.calls.set(key, item);
    }
    if (typeof call.id === 'string' && call.id !== '') item.callId = call.id;
    if (typeof call.function?.name === 'string' && call.function.name !== '') item.name = call.function.name;
    const args = typeof call.function?.arguments === 'string' ? call.function.arguments : '';
    let out = '';
    if (item.outputIndex === undefined) {
      item.text += args;
      if (item.callId === '' || item.name === '') return '';
      out += this.openItem(item, functionCallItem(item.id, item.callId, item.name, '', 'in_progress'));
      if (item.text === '') return out;
      return out + this.argsDelta(item, item.text);
    }
    if (args === '') return '';
    item.text += args;
    return this.argsDelta(item, args);
  }

  private argsDelta(item: Item, delta: string): string {
    return this.emit('response.function_call_arguments.delta', {
      item_id: item.id,
      output_index: item.outputIndex,
      delta,
    });
  }

  private closeOpen(): string {
    const item = this.open;
    if (!item) return '';
    this.open = undefined;
    const at = { item_id: item.id, output_index: item.outputIndex };
    // Closed by a finish that cut the answer short (length, content filter): the item is too.
    const status = this.finished && incompleteReason(this.finish_) ? 'incomplete' : 'completed';
    let out: string;
    let done: Json;
    if (item.kind === 'message') {
      const part = { type: 'output_text', text: item.text, annotations: [] };
      out = this.emit('response.output_text.done', {
        ...at,
        content_index: 0,
        text: item.text,
        logprobs: [],
      });
      out += this.emit('response.content_part.done', { ...at, content_index: 0, part });
      done = messageItem(item.id, item.text, status);
    } else {
      out = this.emit('response.function_call_arguments.done', { ...at, arguments: item.text });
      done = functionCallItem(item.id, item.callId, item.name, item.text, status);
    }
    this.output.push(done);
    return out + this.emit('response.output_item.done', { output_index: item.outputIndex, item: done });
  }

  private terminal(): string {
    this.closed = true;
    const reason = incompleteReason(this.finish_);
    const extra: Json = reason ? { incomplete_details: { reason } } : {};
    const status = reason ? 'incomplete' : 'completed';
    // Cache reads are only in the family translator's counters (its chunk is OpenAI-shaped).
    const u = this.usage;
    const up = this.upstream?.();
    if (up !== undefined) u.cache_read_tokens = Math.max(u.cache_read_tokens, up.cache_read_tokens);
    const r = responseObject(this.head, status, this.output, responsesUsage(u), extra);
    return this.emit(reason ? 'response.incomplete' : 'response.completed', { response: r });
  }
}
