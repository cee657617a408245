/**
 * Native `/v1/messages` (and `/v1/messages/count_tokens`) passthrough for targets that speak
 * Anthropic. The caller's body goes upstream as sent, except `model` (the upstream id) and the
 * provider key's body overrides; the response comes back as sent, except `model` (the name the
 * caller used). Streams are relayed event by event with only `message_start`'s model rewritten;
 * usage and first output are read on the side for telemetry.
 *
 * `anthropic-version` is pinned to 2023-06-01 (the caller's is not forwarded, as in the
 * reference): the gateway also reads these bodies, and that is the version it understands.
 * `anthropic-beta` reaches the upstream only when the key's `forward_client_headers` allows it.
 * An in-band `error` event is not relayed as is: it becomes the stream's failure, so the gateway
 * can still fail over before anything was sent, and otherwise ends the stream with one error
 * frame in this same dialect.
 */
import type {
  PrepareInput,
  PrepareResult,
  ProviderAdapter,
  StreamFailure,
  StreamTranslator,
  TransformResult,
  Usage,
} from '../../contract.js';
import { emptyUsage } from '../../contract.js';
import { parseAnthropicWireError } from '../../shared/errors.js';
import { rewriteModelField } from '../../shared/json-scan.js';
import { upstreamSecret } from '../../shared/openai-base.js';
import { anthropicUrl } from '../../shared/url.js';
import { isObject } from '../shared/chat-types.js';
import { nativeBody, nativeHeaders } from '../shared/native.js';
import { RawSseSplitter, replaceData } from '../shared/raw-sse.js';
import { anthropicErrorFrame } from './stream.js';
import { ANTHROPIC_ERROR_STATUS, readAnthropicUsage } from './usage.js';

export const ANTHROPIC_VERSION = '2023-06-01';

function prepare(input: PrepareInput, suffix: string): PrepareResult {
  const pk = input.providerKey;
  const url = anthropicUrl(pk.api_base, pk.provider ?? '');
  if (!url.ok) return { ok: false, error: { kind: 'invalid_config', message: url.message } };
  const secret = upstreamSecret(pk);
  if (!secret.ok) return { ok: false, error: { kind: 'invalid_credentials', message: secret.message } };
  const headers = nativeHeaders(input, { 'x-api-key': secret.value, 'anthropic-version': ANTHROPIC_VERSION });
  const target = suffix === '' ? url.url : new URL(`${url.url.href}${suffix}`);
  return { ok: true, request: { url: target, headers, body: nativeBody(input) } };
}

function transform(text: string, alias: string, rewrite: boolean): TransformResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: 'upstream returned an unparseable body: invalid JSON' };
  }
  if (!isObject(parsed))
    return { ok: false, message: 'upstream returned an unparseable body: not a JSON object' };
  const usage = emptyUsage();
  readAnthropicUsage(parsed.usage, usage);
  return { ok: true, body: rewrite ? rewriteModelField(text, JSON.stringify(alias)) : text, usage };
}

const OUTPUT_DELTAS = ['text_delta', 'input_json_delta', 'thinking_delta'];

class AnthropicPassthrough implements StreamTranslator {
  done = false;
  failure: StreamFailure | undefined;
  readonly usage: Usage = emptyUsage();
  sawOutput = false;
  delivered = 0;
  private readonly aliasLiteral: string;
  private readonly split = new RawSseSplitter((raw, event, data) => this.event(raw, event, data));

  constructor(alias: string) {
    this.aliasLiteral = JSON.stringify(alias);
  }

  push(chunk: Buffer): string {
    return this.done || this.failure ? '' : this.split.push(chunk);
  }

  end(): string {
    if (this.done || this.failure) return '';
    const out = this.split.end();
    // EOF without message_stop is relayed as it is: nothing is appended to a native stream.
    if (!this.failure) this.done = true;
    return out;
  }

  errorFrame(message: string, type: string): string {
    return anthropicErrorFrame(message, type);
  }

  private event(raw: string, event: string | undefined, data: string | undefined): string {
    if (this.done || this.failure) return '';
    const type = event ?? '';
    if (type === 'error' && data !== undefined) {
      const info = parseAnthropicWireError(data);
      const status = info.kind ? ANTHROPIC_ERROR_STATUS[info.kind] : undefined;
      this.failure = { kind: 'in_band', error: status ? { ...info, status } : info };
      return '';
    }
    let out = raw;
    if (type === 'message_start' && data !== undefined) {
      out = replaceData(raw, event, data, rewriteModelField(data, this.aliasLiteral));
      this.readUsage(data, 'message');
    } else if (type === 'message_delta' && data !== undefined) {
      this.readUsage(data, undefined);
    } else if (!this.sawOutput && data !== undefined) {
      this.sawOutput =
        (type === 'content_block_delta' && OUTPUT_DELTAS.some((d) => data.includes(`"${d}"`))) ||
        (type === 'content_block_start' && data.includes('"tool_use"'));
    }
    if (type === 'message_stop') this.done = true;
    this.delivered++;
    return out;
  }

  private readUsage(data: string, nested: 'message' | undefined): void {
    try {
      const v: unknown = JSON.parse(data);
      if (!isObject(v)) return;
      const holder = nested ? v[nested] : v;
      if (isObject(holder)) readAnthropicUsage(holder.usage, this.usage);
    } catch {
      // telemetry only: an unreadable frame is still relayed as it came
    }
  }
}

function nativeAdapter(id: string, suffix: string, rewrite: boolean): ProviderAdapter {
  return {
    id,
    errorWire: 'anthropic',
    capabilities: {
      chat: true,
      chatStream: suffix === '',
      completions: false,
      completionsStream: false,
      embeddings: false,
    },
    prepare: (input) => prepare(input, suffix),
    transformResponse: (_endpoint, text, alias) => transform(text, alias, rewrite),
    createStreamTranslator: (o) => new AnthropicPassthrough(o.alias),
    parseError: (_status, text) => parseAnthropicWireError(text),
  };
}

/** `/v1/messages` → `<root>/v1/messages`. */
export const anthropicNativeMessages: ProviderAdapter = nativeAdapter('anthropic-native', '', true);

/** `/v1/messages/count_tokens` → `<root>/v1/messages/count_tokens`; `{input_tokens}` verbatim. */
export const anthropicNativeCountTokens: ProviderAdapter = nativeAdapter(
  'anthropic-count-tokens',
  '/count_tokens',
  false,
);
