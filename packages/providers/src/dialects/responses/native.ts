/**
 * Verbatim `/v1/responses` passthrough for models whose `provider` is OpenAI: the caller's body
 * goes to `<base>/responses` with only `model` (the upstream id) and the provider key's body
 * overrides changed; the response object and every stream event come back as sent, except the
 * `model` of the response objects, which becomes the name the caller used. Usage is read from the
 * terminal event (`response.completed` / `incomplete` / `failed`) for telemetry.
 *
 * An upstream `error` event becomes the stream's failure rather than being relayed: before
 * anything reached the caller the gateway may still fail over, and afterwards it writes one error
 * frame in this dialect (see `stream.ts`).
 */
import type {
  PrepareInput,
  PrepareResult,
  ProviderAdapter,
  TransformResult,
  UpstreamErrorInfo,
  Usage,
} from '../../contract.js';
import { parseOpenAiInBandError, parseOpenAiWireError, truncateBytes } from '../../shared/errors.js';
import { openAiUrl } from '../../shared/url.js';
import { maxInto } from '../../shared/usage.js';
import { isObject, type Json } from '../shared/chat-types.js';
import { NativePassthrough, nativeCapabilities, nativePrepare, nativeTransform } from '../shared/native.js';
import { replaceData } from '../shared/raw-sse.js';
import { sseEvent } from '../shared/sse.js';

function prepare(input: PrepareInput): PrepareResult {
  const pk = input.providerKey;
  return nativePrepare(input, openAiUrl(pk.api_base, pk.provider ?? '', '/responses', false), (secret) => ({
    authorization: `Bearer ${secret}`,
  }));
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

/** Reads a Responses `usage` object (input/output/total, cached and reasoning details). */
export function readResponsesUsage(usage: unknown, into: Usage): void {
  if (!isObject(usage)) return;
  const inDetails = isObject(usage.input_tokens_details) ? usage.input_tokens_details : {};
  const outDetails = isObject(usage.output_tokens_details) ? usage.output_tokens_details : {};
  const prompt = num(usage.input_tokens);
  const completion = num(usage.output_tokens);
  maxInto(into, {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: num(usage.total_tokens) || prompt + completion,
    cached_prompt_tokens: num(inDetails.cached_tokens),
    reasoning_tokens: num(outDetails.reasoning_tokens),
    cache_creation_tokens: 0,
    cache_read_tokens: 0,
  });
}

function transform(text: string, alias: string): TransformResult {
  return nativeTransform(text, alias, readResponsesUsage);
}

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);
const OUTPUT_EVENTS = new Set([
  'response.output_text.delta',
  'response.function_call_arguments.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
  'response.refusal.delta',
]);

/** `sequence_number` continues the upstream's numbering (every Responses event carries one). */
export function responsesErrorFrame(message: string, type: string, sequenceNumber: number): string {
  return sseEvent('error', {
    type: 'error',
    sequence_number: sequenceNumber,
    code: type,
    message,
    param: null,
  });
}

const SEQUENCE_NUMBER = /"sequence_number"\s*:\s*(\d+)/;

/**
 * The failure a `response.failed` event reports: its `response.error` ({code, message}) read like
 * an in-band `{"error": {...}}` (a code that is an HTTP status is its embedded status).
 */
function failedError(error: unknown): UpstreamErrorInfo {
  if (isObject(error) && typeof error.message === 'string' && error.message !== '')
    return parseOpenAiInBandError(JSON.stringify({ error }));
  return { message: 'upstream response failed' };
}

class ResponsesPassthrough extends NativePassthrough {
  protected readonly cutMessage = 'upstream stream ended before the response completed';
  /** Next `sequence_number` after the last relayed event (for the error frame). */
  private nextSeq = 0;

  constructor(private readonly alias: string) {
    super();
  }

  /** The `code` of an upstream error event: kept in the frame that ends the stream. */
  private upstreamCode: string | undefined;

  /** `response.failed` ended the stream: relayed as is, recorded as the attempt's failure. */
  endedInError: UpstreamErrorInfo | undefined;

  errorFrame(message: string, type: string): string {
    // An upstream error keeps its own code (`server_error`, `rate_limit_exceeded`), not ours.
    return responsesErrorFrame(message, this.upstreamCode ?? type, this.nextSeq);
  }

  protected event(raw: string, event: string | undefined, data: string | undefined): string {
    if (this.done || this.failure || data === undefined) return this.done || this.failure ? '' : raw;
    // The event name is repeated as `type` inside the data; either identifies the event.
    const type = event ?? /"type"\s*:\s*"([^"]+)"/.exec(data)?.[1] ?? '';
    if (type === 'error') {
      const info = this.inBand(data);
      this.failure = { kind: 'in_band', error: info };
      if (info.code !== undefined && /^[a-z_]{1,64}$/.test(info.code)) this.upstreamCode = info.code;
      return '';
    }
    if (!this.sawOutput && OUTPUT_EVENTS.has(type)) this.sawOutput = true;
    this.delivered++;
    const seq = SEQUENCE_NUMBER.exec(data);
    if (seq) this.nextSeq = Number(seq[1]) + 1;
    if (!data.includes('"response"')) return raw;
    let out = raw;
    try {
      const v: unknown = JSON.parse(data);
      if (isObject(v) && isObject(v.response)) {
        const r: Json = v.response;
        if (typeof r.model === 'string' && r.model !== this.alias) {
          r.model = this.alias;
          out = replaceData(raw, event, data, JSON.stringify(v));
        }
        if (TERMINAL.has(type)) readResponsesUsage(r.usage, this.usage);
        if (type === 'response.failed') this.endedInError = failedError(r.error);
      }
    } catch {
      // relayed as it came; only telemetry is lost
    }
    if (TERMINAL.has(type)) {
      this.done = true;
      if (type === 'response.failed' && this.endedInError === undefined)
        this.endedInError = failedError(null);
    }
    return out;
  }

  private inBand(data: string): { message: string; code?: string } {
    const info = parseOpenAiInBandError(data);
    try {
      const v: unknown = JSON.parse(data);
      // Responses `error` events are flat: {type:"error", code, message, param}.
      if (isObject(v) && typeof v.message === 'string') {
        const code = typeof v.code === 'string' ? v.code : undefined;
        return { message: truncateBytes(v.message), ...(code ? { code } : {}) };
      }
    } catch {
      // fall through to the generic parse
    }
    return info;
  }
}

/** `/v1/responses` → `<base>/responses`, verbatim. */
export const responsesVerbatim: ProviderAdapter = {
  id: 'responses-verbatim',
  errorWire: 'openai',
  capabilities: nativeCapabilities(true),
  prepare,
  transformResponse: (_endpoint, text, alias) => transform(text, alias),
  createStreamTranslator: (o) => new ResponsesPassthrough(o.alias),
  parseError: (_status, text) => parseOpenAiWireError(text),
};
