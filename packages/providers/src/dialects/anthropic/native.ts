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
import { ERROR_TYPE_STATUS } from '../../anthropic/wire.js';
import type { PrepareInput, PrepareResult, ProviderAdapter, TransformResult } from '../../contract.js';
import { parseAnthropicWireError } from '../../shared/errors.js';
import { rewriteModelField } from '../../shared/json-scan.js';
import { anthropicUrl } from '../../shared/url.js';
import { isObject } from '../shared/chat-types.js';
import { NativePassthrough, nativeCapabilities, nativePrepare, nativeTransform } from '../shared/native.js';
import { replaceData } from '../shared/raw-sse.js';
import { anthropicErrorFrame } from './stream.js';
import { readAnthropicUsage } from './usage.js';

export const ANTHROPIC_VERSION = '2023-06-01';

function prepare(input: PrepareInput, suffix: string): PrepareResult {
  const pk = input.providerKey;
  return nativePrepare(
    input,
    anthropicUrl(pk.api_base, pk.provider ?? ''),
    (secret) => ({ 'x-api-key': secret, 'anthropic-version': ANTHROPIC_VERSION }),
    (url) => {
      if (suffix === '') return url;
      // A copy: `url` is shared by the URL memo. The suffix goes on the path, before any query.
      const u = new URL(url.href);
      u.pathname += suffix;
      return u;
    },
  );
}

function transform(text: string, alias: string, rewrite: boolean): TransformResult {
  return nativeTransform(text, alias, readAnthropicUsage, rewrite);
}

const OUTPUT_DELTAS = ['text_delta', 'input_json_delta', 'thinking_delta'];

class AnthropicPassthrough extends NativePassthrough {
  private readonly aliasLiteral: string;
  protected readonly cutMessage = 'upstream stream ended before message_stop';

  constructor(alias: string) {
    super();
    this.aliasLiteral = JSON.stringify(alias);
  }

  /** The Anthropic `error.type` of an upstream error event: kept in the frame that ends the stream. */
  private upstreamType: string | undefined;

  errorFrame(message: string, type: string): string {
    // The caller speaks Anthropic: an upstream error keeps its own type (`overloaded_error`, on
    // which clients retry), not the gateway's `upstream_error`.
    return anthropicErrorFrame(message, this.upstreamType ?? type);
  }

  protected event(raw: string, event: string | undefined, data: string | undefined): string {
    if (this.done || this.failure) return '';
    const type = event ?? '';
    if (type === 'error' && data !== undefined) {
      const info = parseAnthropicWireError(data);
      const status = info.kind ? ERROR_TYPE_STATUS[info.kind] : undefined;
      this.failure = { kind: 'in_band', error: status ? { ...info, status } : info };
      if (info.kind !== undefined && /^[a-z_]{1,64}$/.test(info.kind)) this.upstreamType = info.kind;
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
    capabilities: nativeCapabilities(suffix === ''),
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
