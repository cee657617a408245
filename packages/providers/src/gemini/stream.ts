/**
 * Gemini `:streamGenerateContent?alt=sse` → caller OpenAI SSE (providers.md §5, data-plane §6).
 *
 * Every upstream event is a whole `GenerateContentResponse`. Out: a role chunk first (decision
 * OP-4), then per event a content / reasoning / tool-call delta, a finish chunk when a candidate
 * finishes, and at EOF the usage-only chunk (only when the caller asked) and `data: [DONE]` —
 * Gemini sends no terminator, so we write it. Usage is repeated on many events: max-so-far.
 *
 * Gemini sends each function call whole, so a tool call is one delta with id, name and complete
 * arguments. An event `{error:{...}}` is an in-band error; a stream that ends before any
 * candidate finished is reported as truncated (Gemini always finishes its last event), so a proxy
 * that cut the body cleanly is not mistaken for a complete answer.
 */
import type { StreamFailure, StreamOptions, StreamTranslator, Usage } from '../contract.js';
import { emptyUsage } from '../contract.js';
import { truncateBytes } from '../shared/errors.js';
import { EVENT_TOO_LONG, SseDecoder } from '../shared/sse.js';
import { maxInto } from '../shared/usage.js';
import { parseGeminiError } from './errors.js';
import {
  candidateOutput,
  isCandidate,
  mapFinishReason,
  newId,
  openAiUsage,
  readGeminiUsage,
} from './response.js';
import type { GeminiResponse } from './wire.js';

const DONE_FRAME = 'data: [DONE]\n\n';

interface CandidateState {
  toolIndex: number;
  finished: boolean;
}

export class GeminiStreamTranslator implements StreamTranslator {
  done = false;
  failure: StreamFailure | undefined;
  readonly usage: Usage = emptyUsage();
  sawOutput = false;
  delivered = 0;
  private readonly decoder = new SseDecoder();
  private readonly alias: string;
  private readonly forwardUsageChunk: boolean;
  private readonly created = Math.floor(Date.now() / 1000);
  private id: string | undefined;
  private readonly candidates = new Map<number, CandidateState>();
  private sawUsage = false;
  private out = '';
  private readonly onEvent = (data: string): void => this.event(data);

  constructor(options: StreamOptions) {
    this.alias = options.alias;
    this.forwardUsageChunk = options.forwardUsageChunk;
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
    if (this.failure) return this.take();
    const finished = [...this.candidates.values()].some((c) => c.finished);
    if (!finished) {
      this.failure = { kind: 'decode', message: 'upstream stream ended before the model finished' };
      return this.take();
    }
    if (this.forwardUsageChunk && this.sawUsage) {
      this.emit({ choices: [], usage: openAiUsage(this.usage) });
    }
    this.done = true;
    this.out += DONE_FRAME;
    return this.take();
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }

  private emit(fields: Record<string, unknown>): void {
    this.id ??= newId('chatcmpl-');
    const chunk = {
      id: this.id,
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.alias,
      ...fields,
    };
    this.out += `data: ${JSON.stringify(chunk)}\n\n`;
    this.delivered++;
  }

  private choice(index: number, delta: Record<string, unknown>, finish?: string): void {
    const c: Record<string, unknown> = { index, delta };
    if (finish !== undefined) c.finish_reason = finish;
    this.emit({ choices: [c] });
  }

  private event(data: string): void {
    if (this.done || this.failure) return;
    const trimmed = data.trim();
    if (trimmed === '' || trimmed === '[DONE]') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      this.failure = {
        kind: 'decode',
        message: `upstream returned an unparseable stream event: ${truncateBytes(trimmed, 256)}`,
      };
      return;
    }
    if ('error' in parsed) {
      this.failure = { kind: 'in_band', error: parseGeminiError(trimmed) };
      return;
    }
    const r = parsed as GeminiResponse;
    if (this.id === undefined && typeof r.responseId === 'string' && r.responseId !== '')
      this.id = r.responseId;
    if (r.usageMetadata) {
      this.sawUsage = true;
      maxInto(this.usage, readGeminiUsage(r.usageMetadata));
    }
    const cands = Array.isArray(r.candidates) ? r.candidates : [];
    if (!cands.every(isCandidate)) {
      this.failure = {
        kind: 'decode',
        message: 'upstream returned an unparseable stream event: a candidate is not an object',
      };
      return;
    }
    if (cands.length === 0 && typeof r.promptFeedback?.blockReason === 'string') {
      this.state(0);
      this.candidateDone(0, 'content_filter');
      return;
    }
    cands.forEach((cand, pos) => {
      const index = typeof cand.index === 'number' ? cand.index : pos;
      const st = this.state(index);
      if (st.finished) return;
      const o = candidateOutput(cand);
      const delta: Record<string, unknown> = {};
      if (o.text !== '') delta.content = o.text;
      if (o.reasoning !== '') delta.reasoning_content = o.reasoning;
      if (o.toolCalls.length > 0) {
        delta.tool_calls = o.toolCalls.map((tc) => ({ index: st.toolIndex++, ...tc }));
      }
      if (Object.keys(delta).length > 0) {
        this.sawOutput = true;
        this.choice(index, delta);
      }
      if (typeof cand.finishReason === 'string') {
        this.candidateDone(index, mapFinishReason(cand.finishReason, st.toolIndex > 0));
      }
    });
  }

  /** The candidate's state; opens it with the role chunk on first sight. */
  private state(index: number): CandidateState {
    let st = this.candidates.get(index);
    if (!st) {
      st = { toolIndex: 0, finished: false };
      this.candidates.set(index, st);
      this.choice(index, { role: 'assistant', content: '' });
    }
    return st;
  }

  private candidateDone(index: number, finish: string): void {
    const st = this.candidates.get(index);
    if (st) st.finished = true;
    this.choice(index, {}, finish);
  }
}
