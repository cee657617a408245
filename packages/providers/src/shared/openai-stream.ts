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
import { parseOpenAiInBandError, truncateBytes } from './errors.js';
import {
  findKeyValue,
  firstCharCode,
  hasNonEmptyValue,
  hasUsageObject,
  rewriteModelField,
  startsWithErrorKey,
} from './json-scan.js';
import { decodeTextEvent, EVENT_TOO_LONG, SseDecoder } from './sse.js';
import { readOpenAiUsage } from './usage.js';

const DONE_FRAME = 'data: [DONE]\n\n';

/** Keys whose non-empty value marks generated output (data-plane §6.4). */
const OUTPUT_KEYS = ['"content"', '"reasoning_content"', '"reasoning"', '"tool_calls"', '"text"'] as const;

/**
 * `text.startsWith(s, at)` for the learned `"model":"<id>"` literal (ends in `"`): a closing-quote
 * check, then V8's string search anchored at `at`, which is ~2x cheaper than `startsWith` here.
 */
function sameAt(text: string, at: number, s: string): boolean {
  const n = s.length;
  return text.charCodeAt(at + n - 1) === 0x22 && text.indexOf(s, at) === at;
}

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
  /**
   * The provider key's `response.reasoning_field`, split: a path inside each choice whose text is
   * lifted into `delta.reasoning_content` (data-plane §5.6). Such a stream takes the parsing path.
   */
  private readonly reasoningPath: readonly string[] | undefined;
  private out = '';
  /** Learned from the first event: the upstream `"model":"<id>"` bytes and their re-stamped form. */
  private modelFrom: string | undefined;
  private modelTo = '';
  private readonly onEvent = (data: string): void => this.event(data);

  constructor(options: StreamOptions) {
    this.aliasLiteral = JSON.stringify(options.alias);
    this.forwardUsageChunk = options.forwardUsageChunk;
    const rf = options.request?.meta?.reasoning_field;
    this.reasoningPath = rf ? rf.split('.') : undefined;
  }

  push(chunk: Buffer): string {
    if (this.done || this.failure) return '';
    // Fast path (`\n`-only framing, no partial event pending): decode the complete events once
    // and relay them span by span; the incomplete rest goes to the decoder as its tail.
    if (this.decoder.idle && chunk.indexOf(0x0d) === -1) {
      const last = chunk.lastIndexOf('\n\n');
      if (last !== -1) {
        this.relay(chunk.toString('utf8', 0, last));
        if (last + 2 < chunk.length && !this.done && !this.failure) {
          this.decoder.push(chunk.subarray(last + 2), this.onEvent);
        }
        return this.take();
      }
    }
    this.decoder.push(chunk, this.onEvent);
    if (this.decoder.overflow) this.failure = { kind: 'decode', message: EVENT_TOO_LONG };
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

  /**
   * Relays the complete events in `text` (`\n`-only, the last one without its blank line). A
   * plain `data: {"...}` event that needs no parse is copied through as a span of `text` with
   * only its `model` value replaced; anything else (usage object, error, `[DONE]`, odd framing)
   * goes through `event()` exactly as the decoder would deliver it.
   */
  private relay(text: string): void {
    const len = text.length;
    let out = this.out;
    let from = 0; // start of the text not yet copied to `out`
    let usageAt = text.indexOf('"usage"');
    let pos = 0;
    let openTail = false; // the copied text ends with an event that still needs its `\n\n`
    while (pos <= len) {
      const nl = text.indexOf('\n', pos);
      let end: number;
      let single = true;
      if (nl === -1) end = len;
      else if (nl + 1 < len && text.charCodeAt(nl + 1) === 0x0a) end = nl;
      else {
        single = false;
        end = text.indexOf('\n\n', pos);
        if (end === -1) end = len;
      }
      if (usageAt !== -1 && usageAt < pos) usageAt = text.indexOf('"usage"', pos);
      const ds = pos + 6;
      if (
        this.reasoningPath === undefined &&
        single &&
        end - pos > 8 &&
        text.startsWith('data: {"', pos) &&
        text.charCodeAt(end - 1) === 0x7d &&
        !text.startsWith('"error"', ds + 1) &&
        (usageAt === -1 || usageAt >= end || !this.usageObjectIn(text, ds, end))
      ) {
        if (!this.sawOutput) {
          const data = text.slice(ds, end);
          this.sawOutput = OUTPUT_KEYS.some((k) => hasNonEmptyValue(data, k));
        }
        const m = text.indexOf('"model"', ds);
        if (m === -1 || m >= end) {
          // No `model` in this chunk: the caller's alias is stamped in as its first member.
          out += `${text.slice(from, ds + 1)}"model":${this.aliasLiteral},`;
          from = ds + 1;
        } else {
          const from0 = this.modelFrom;
          if (from0 !== undefined && sameAt(text, m, from0)) {
            out += text.slice(from, m) + this.modelTo;
            from = m + from0.length;
          } else if (this.learnModel(text, m, end)) {
            out += text.slice(from, m) + this.modelTo;
            from = m + (this.modelFrom as string).length;
          } else {
            // Unusual `model` form: the general rewrite on this event alone.
            out += `${text.slice(from, pos)}data: ${rewriteModelField(text.slice(ds, end), this.aliasLiteral)}\n\n`;
            from = end + 2;
          }
        }
        this.delivered++;
        openTail = end === len && from <= len;
      } else {
        // Flush the spans copied so far, then the general path (the decoder's own event split).
        this.out = out + text.slice(from, pos);
        if (end > pos) decodeTextEvent(text, pos, end, this.onEvent);
        out = this.out;
        from = end + 2;
        openTail = false;
        if (this.done || this.failure) {
          from = len; // events after `[DONE]` or a failure are not relayed
          break;
        }
      }
      pos = end + 2;
    }
    if (from < len) out += text.slice(from, len);
    if (openTail) out += '\n\n';
    this.out = out;
  }

  /** True when `"usage"` in the event `[ds, end)` holds an object (not null). */
  private usageObjectIn(text: string, ds: number, end: number): boolean {
    const v = findKeyValue(text, '"usage"', ds);
    return v !== -1 && v < end && text.charCodeAt(v) === 0x7b;
  }

  /**
   * Learns the upstream `"model":"<id>"` bytes at `m` (the first `"model"` of an event ending at
   * `end`) when the value is a plain string literal (no escapes). False when it is not.
   */
  private learnModel(text: string, m: number, end: number): boolean {
    let i = m + 7;
    let c = text.charCodeAt(i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++i);
    if (c !== 0x3a) return false;
    c = text.charCodeAt(++i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = text.charCodeAt(++i);
    if (c !== 0x22) return false;
    const v = i;
    for (i = v + 1; i < end; i++) {
      c = text.charCodeAt(i);
      if (c === 0x5c) return false;
      if (c === 0x22) {
        this.modelFrom = text.slice(m, i + 1);
        this.modelTo = text.slice(m, v) + this.aliasLiteral;
        return true;
      }
    }
    return false;
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
      this.failure = { kind: 'in_band', error: parseOpenAiInBandError(data) };
      return;
    }
    if (hasUsageObject(data) && !this.usageChunk(data)) return;
    if (this.reasoningPath !== undefined) data = liftReasoning(data, this.reasoningPath);
    if (!this.sawOutput) this.sawOutput = OUTPUT_KEYS.some((k) => hasNonEmptyValue(data, k));
    this.out += `data: ${rewriteModelField(data, this.aliasLiteral, true)}\n\n`;
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

/**
 * `data` (one chunk's JSON) with each choice's text at `path` (e.g. `delta.thinking`) moved to
 * `delta.reasoning_content`, where callers read reasoning; unchanged when no choice has one.
 */
function liftReasoning(data: string, path: readonly string[]): string {
  let chunk: unknown;
  try {
    chunk = JSON.parse(data);
  } catch {
    return data;
  }
  const choices = (chunk as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return data;
  let lifted = false;
  for (const choice of choices) {
    if (typeof choice !== 'object' || choice === null) continue;
    let parent: Record<string, unknown> = choice as Record<string, unknown>;
    for (let i = 0; i < path.length - 1; i++) {
      const next = parent[path[i] as string];
      if (typeof next !== 'object' || next === null) {
        parent = {};
        break;
      }
      parent = next as Record<string, unknown>;
    }
    const leaf = path[path.length - 1] as string;
    const text = parent[leaf];
    if (typeof text !== 'string' || text === '') continue;
    const c = choice as { delta?: unknown };
    if (typeof c.delta !== 'object' || c.delta === null) c.delta = {};
    const delta = c.delta as Record<string, unknown>;
    delete parent[leaf];
    if (typeof delta.reasoning_content !== 'string' || delta.reasoning_content === '')
      delta.reasoning_content = text;
    lifted = true;
  }
  return lifted ? JSON.stringify(chunk) : data;
}
