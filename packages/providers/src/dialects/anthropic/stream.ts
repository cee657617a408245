/**
 * OpenAI chat chunks → Anthropic Messages SSE events, for bridged `/v1/messages` streams.
 *
 * `message_start` goes out with the first chunk carrying text, a tool call or a finish reason;
 * text and tool calls become content blocks (indexes in order of first appearance). Blocks are
 * written one after another as Anthropic does: starting a new block stops the open one. A tool
 * block starts once its id and name are known; argument fragments that came earlier are replayed
 * as its first `input_json_delta`. On `finish_reason` the open block is stopped and the closing
 * `message_delta` + `message_stop` follow, held back until usage arrived (OpenAI-family upstreams
 * send it in a trailing chunk) or the upstream ended.
 */
import { emptyUsage } from '../../contract.js';
import { readOpenAiUsage } from '../../shared/usage.js';
import type { DialectEncoder } from '../shared/bridge.js';
import { type ChatChunk, type ChatToolCall, hexId, isObject } from '../shared/chat-types.js';
import { sseEvent } from '../shared/sse.js';
import { stopReason } from './response.js';

interface ToolBlock {
  id: string;
  name: string;
  /** Arguments received before the block could start. */
  pending: string;
  index: number | undefined;
}

export function anthropicErrorFrame(message: string, type: string): string {
  return sseEvent('error', { type: 'error', error: { type, message } });
}

export class AnthropicEncoder implements DialectEncoder {
  closed = false;
  private started = false;
  private next = 0;
  /** Index of the block currently open (text or tool), if any. */
  private open: number | undefined;
  private textIndex: number | undefined;
  private readonly tools = new Map<number, ToolBlock>();
  private stop: string | undefined;
  private sawUsage = false;
  private readonly usage = emptyUsage();
  private readonly id = `msg_${hexId()}`;

  constructor(private readonly alias: string) {}

  chunk(c: ChatChunk): string {
    if (this.closed) return '';
    let out = '';
    if (isObject(c.usage)) {
      readOpenAiUsage(c.usage, this.usage);
      this.sawUsage = true;
    }
    const choice = c.choices?.[0];
    const delta = choice?.delta;
    const text = typeof delta?.content === 'string' ? delta.content : '';
    const calls = Array.isArray(delta?.tool_calls) ? delta.tool_calls : [];
    const fin = choice?.finish_reason;
    if (!this.started && (text !== '' || calls.length > 0 || fin)) out += this.messageStart();
    if (text !== '') out += this.text(text);
    for (const call of calls) out += this.toolDelta(call);
    if (fin && this.stop === undefined) {
      this.stop = stopReason(fin);
      out += this.stopOpen();
    }
    if (this.stop !== undefined && this.sawUsage) out += this.closing();
    return out;
  }

  finish(): string {
    if (this.closed) return '';
    let out = this.started ? '' : this.messageStart();
    out += this.stopOpen();
    return out + this.closing();
  }

  errorFrame(message: string, type: string): string {
    return anthropicErrorFrame(message, type);
  }

  private messageStart(): string {
    this.started = true;
    return sseEvent('message_start', {
      type: 'message_start',
      message: {
        id: this.id,
        type: 'message',
        role: 'assistant',
        content: [],
        model: this.alias,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: this.usage.prompt_tokens, output_tokens: 0 },
      },
    });
  }

  /** Opens block `index` (stopping the open one) with `block` as its start. */
  private startBlock(block: unknown): { index: number; out: string } {
    const index = this.next++;
    const out = this.stopOpen();
    this.open = index;
    return {
      index,
      out:
        out + sseEvent('content_block_start', { type: 'content_block_start', index, content_block: block }),
    };
  }

  private stopOpen(): string {
    if (this.open === undefined) return '';
    const index = this.open;
    this.open = undefined;
    return sseEvent('content_block_stop', { type: 'content_block_stop', index });
  }

  private text(text: string): string {
    let out = '';
    if (this.textIndex === undefined || this.open !== this.textIndex) {
      const s = this.startBlock({ type: 'text', text: '' });
      this.textIndex = s.index;
      out = s.out;
    }
    const delta = { type: 'text_delta', text };
    return (
      out + sseEvent('content_block_delta', { type: 'content_block_delta', index: this.textIndex, delta })
    );
  }

  private toolDelta(call: ChatToolCall): string {
    const key = typeof call.index === 'number' ? call.index : 0;
    let t = this.tools.get(key);
    if (!t) {
      t = { id: '', name: '', pending: '', index: undefined };
      this.tools.set(key, t);
    }
    if (typeof call.id === 'string' && call.id !== '') t.id = call.id;
    if (typeof call.function?.name === 'string' && call.function.name !== '') t.name = call.function.name;
    const args = typeof call.function?.arguments === 'string' ? call.function.arguments : '';
    let out = '';
    if (t.index === undefined) {
      t.pending += args;
      if (t.id === '' || t.name === '') return '';
      const s = this.startBlock({ type: 'tool_use', id: t.id, name: t.name, input: {} });
      t.index = s.index;
      out = s.out;
      if (t.pending === '') return out;
      const replay = t.pending;
      t.pending = '';
      return out + this.jsonDelta(t.index, replay);
    }
    return args === '' ? '' : this.jsonDelta(t.index, args);
  }

  private jsonDelta(index: number, partial: string): string {
    const delta = { type: 'input_json_delta', partial_json: partial };
    return sseEvent('content_block_delta', { type: 'content_block_delta', index, delta });
  }

  private closing(): string {
    this.closed = true;
    const usage: Record<string, number> = { output_tokens: this.usage.completion_tokens };
    if (this.usage.prompt_tokens > 0) usage.input_tokens = this.usage.prompt_tokens;
    return (
      sseEvent('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: this.stop ?? 'end_turn', stop_sequence: null },
        usage,
      }) + sseEvent('message_stop', { type: 'message_stop' })
    );
  }
}
