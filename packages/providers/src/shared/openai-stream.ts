/**
 * OpenAI-wire stream relay: upstream `chat.completion.chunk` / `text_completion` events out to
 * the caller as `data: <json>\n\n`, with `model` re-stamped to the caller's alias.
 *
 * Hot path by design: a chunk is never parsed and re-serialized just to be forwarded. `model` is
 * replaced in the text, output is spotted by a key scan, and only a chunk that carries a usage
 * object (normally one per stream) or starts with an `error` key is parsed. A frame that is not
 * a JSON object at all (first character not `{` or last not `}`) is a decode failure.
 *
 * The usage-only terminal chunk is forwarded only when the caller asked for it; its counts are
 * always kept. `[DONE]` ends the relay; events after it are ignored.
 */
import type { StreamFailure, StreamOptions, StreamTranslator, Usage } from '../contract.js';
import { emptyUsage } from '../contract.js';
import { parseOpenAiWireError, truncateBytes } from './errors.js';
import {
  firstCharCode,
  hasNonEmptyValue,
  hasUsageObject,
  rewriteModelField,
  startsWithErrorKey,
} from './json-scan.js';
import { SseDecoder } from './sse.js';
import { readOpenAiUsage } from './usage.js';

const DONE_FRAME = 'data: [DONE]\n\n';

/** Keys whose non-empty value marks generated output (data-plane §6.4). */
const OUTPUT_KEYS = ['"content"', '"reasoning_content"', '"reasoning"', '"tool_calls"', '"text"'] as const;

/** Last non-whitespace character code (NaN for a blank string). */
function lastCharCode(s: string): number {
  let i = s.length - 1;
  while (i >= 0) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c;
    i--;
  }
  return Number.NaN;
}

export class OpenAiStreamTranslator implements StreamTranslator {
  done = false;
  failure: StreamFailure | undefined;
  readonly usage: Usage = emptyUsage();
  sawOutput = false;
  delivered = 0;
  private readonly decoder = new SseDecoder();
  private readonly aliasLiteral: string;
  private readonly forwardUsageChunk: boolean;
  private out = '';
  private readonly onEvent = (data: string): void => this.event(data);

  constructor(options: StreamOptions) {
    this.aliasLiteral = JSON.stringify(options.alias);
    this.forwardUsageChunk = options.forwardUsageChunk;
  }

  push(chunk: Buffer): string {
    if (this.done || this.failure) return '';
    this.decoder.push(chunk, this.onEvent);
    return this.take();
  }

  end(): string {
    if (this.done || this.failure) return '';
    this.decoder.end(this.onEvent);
    return this.take();
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }

  private event(data: string): void {
    if (this.done || this.failure) return;
    if (data.length < 16 && data.trim() === '[DONE]') {
      this.done = true;
      this.out += DONE_FRAME;
      return;
    }
    // Not parsed on the hot path, but a frame must at least look like one whole JSON object:
    // a chunk cut mid-JSON (the common malformation) ends with something other than `}`.
    if (firstCharCode(data) !== 0x7b || lastCharCode(data) !== 0x7d) {
      this.failure = {
        kind: 'decode',
        message: `upstream returned an unparseable stream event: ${truncateBytes(data, 256)}`,
      };
      return;
    }
    if (startsWithErrorKey(data)) {
      this.failure = { kind: 'in_band', error: parseOpenAiWireError(data) };
      return;
    }
    if (hasUsageObject(data) && !this.usageChunk(data)) return;
    if (!this.sawOutput) this.sawOutput = OUTPUT_KEYS.some((k) => hasNonEmptyValue(data, k));
    this.out += `data: ${rewriteModelField(data, this.aliasLiteral)}\n\n`;
    this.delivered++;
  }

  /** Captures usage; returns false when the chunk must not be forwarded (usage-only, not asked). */
  private usageChunk(data: string): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.failure = { kind: 'decode', message: 'upstream returned an unparseable stream event' };
      return false;
    }
    const chunk = parsed as { usage?: unknown; choices?: unknown };
    readOpenAiUsage(chunk.usage, this.usage);
    const usageOnly = !Array.isArray(chunk.choices) || chunk.choices.length === 0;
    return !usageOnly || this.forwardUsageChunk;
  }
}
