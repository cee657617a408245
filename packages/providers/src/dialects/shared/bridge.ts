/**
 * The generic bridge: serves a caller dialect through any family adapter that speaks OpenAI chat
 * on its input side (every adapter does, by contract). The dialect supplies a codec of pure
 * translators; the family adapter keeps owning the upstream wire (URL, credentials, header
 * pipeline, body overrides, its own response and stream parsing, its error parser).
 *
 *   caller body ─codec.toChat→ OpenAI chat body ─family.prepare→ upstream request
 *   upstream JSON ─family.transformResponse→ OpenAI chat JSON ─codec.fromChat→ caller body
 *   upstream SSE ─family stream translator→ OpenAI chunks ─codec encoder→ caller SSE
 *
 * No vendor code lives here, so every present and future family works through it unchanged.
 */
import type {
  PreparedRequest,
  ProviderAdapter,
  StreamFailure,
  StreamOptions,
  StreamTranslator,
  TransformResult,
  Usage,
} from '../../contract.js';
import { refusal } from '../../contract.js';
import type { ChatChunk, ChatCompletion, Json } from './chat-types.js';
import { dataPayloads } from './sse.js';

export type ToChatResult =
  | { readonly ok: true; readonly body: Json }
  | { readonly ok: false; readonly message: string };

/** Incremental OpenAI chunks → caller-dialect SSE, one per stream. */
export interface DialectEncoder {
  chunk(c: ChatChunk): string;
  /** The upstream ended normally: emit whatever closing events are still missing. */
  finish(): string;
  /** True once the dialect's terminal event was written. */
  readonly closed: boolean;
  errorFrame(message: string, type: string): string;
}

export interface BridgeCodec {
  readonly id: string;
  /** Caller body → OpenAI chat body; `message` is the full 400 text on failure. */
  toChat(body: Readonly<Json>): ToChatResult;
  /**
   * Fields of the caller's request its answer reports back (the Responses object's `tools`,
   * `tool_choice`); carried from `prepare` to the answer in the request's meta.
   */
  echo?(body: Readonly<Json>): Json;
  /** OpenAI chat completion → caller body text. */
  fromChat(completion: ChatCompletion, alias: string, usage: Usage, echo?: Json): string;
  /**
   * `upstream`: the family translator's own counters (its usage chunk is OpenAI-shaped and
   * carries no Anthropic cache reads, which the dialect's usage still reports, providers §4.2).
   */
  encoder(alias: string, upstream: () => Usage, echo?: Json): DialectEncoder;
}

/** The request meta key holding the codec's echo (JSON text). */
const ECHO_META = 'aisix.bridge.echo';

function echoOf(request: PreparedRequest | undefined): Json | undefined {
  const text = request?.meta?.[ECHO_META];
  return text === undefined ? undefined : (JSON.parse(text) as Json);
}

/** Translations are pure, so one per caller body serves every target and retry. */
const translated = new WeakMap<object, Map<string, ToChatResult>>();

function toChatOnce(codec: BridgeCodec, body: Readonly<Json>): ToChatResult {
  let byCodec = translated.get(body);
  if (!byCodec) {
    byCodec = new Map();
    translated.set(body, byCodec);
  }
  let r = byCodec.get(codec.id);
  if (!r) {
    r = codec.toChat(body);
    byCodec.set(codec.id, r);
  }
  return r;
}

class BridgeStreamTranslator implements StreamTranslator {
  done = false;
  delivered = 0;

  constructor(
    private readonly inner: StreamTranslator,
    private readonly enc: DialectEncoder,
  ) {}

  get failure(): StreamFailure | undefined {
    return this.inner.failure;
  }
  get usage(): Usage {
    return this.inner.usage;
  }
  get sawOutput(): boolean {
    return this.inner.sawOutput;
  }

  push(chunk: Buffer): string {
    if (this.done || this.inner.failure) return '';
    return this.feed(this.inner.push(chunk));
  }

  end(): string {
    if (this.done || this.inner.failure) return '';
    let out = this.feed(this.inner.end());
    if (!this.done && !this.inner.failure) out += this.close();
    return out;
  }

  errorFrame(message: string, type: string): string {
    return this.enc.errorFrame(message, type);
  }

  private close(): string {
    this.done = true;
    const out = this.enc.finish();
    if (out) this.delivered++;
    return out;
  }

  private feed(text: string): string {
    if (text.length === 0) return '';
    let out = '';
    for (const data of dataPayloads(text)) {
      if (this.done) break;
      if (data.trim() === '[DONE]') {
        out += this.close();
        break;
      }
      let parsed: ChatChunk;
      try {
        parsed = JSON.parse(data) as ChatChunk;
      } catch {
        continue; // the family translator already reports undecodable upstream frames
      }
      const frames = this.enc.chunk(parsed);
      if (frames) {
        out += frames;
        this.delivered++;
      }
      if (this.enc.closed) this.done = true;
    }
    return out;
  }
}

function bridgeResponse(
  family: ProviderAdapter,
  codec: BridgeCodec,
  text: string,
  alias: string,
  request: PreparedRequest | undefined,
): TransformResult {
  const r = family.transformResponse('chat', text, alias, request);
  if (!r.ok) return r;
  let parsed: unknown = r.value;
  if (parsed === undefined) {
    try {
      parsed = JSON.parse(r.body);
    } catch {
      return { ok: false, message: 'upstream returned an unparseable body: invalid JSON' };
    }
  }
  return {
    ok: true,
    body: codec.fromChat(parsed as ChatCompletion, alias, r.usage, echoOf(request)),
    usage: r.usage,
  };
}

function createBridge(family: ProviderAdapter, codec: BridgeCodec): ProviderAdapter {
  const c = family.capabilities;
  const authorize = family.authorize?.bind(family);
  return {
    ...(authorize ? { authorize } : {}),
    id: `${codec.id}>${family.id}`,
    errorWire: family.errorWire,
    capabilities: {
      chat: c.chat,
      chatStream: c.chatStream,
      completions: false,
      completionsStream: false,
      embeddings: false,
    },
    prepare(input) {
      const t = toChatOnce(codec, input.body);
      if (!t.ok) return refusal('invalid_config', t.message);
      const r = family.prepare({ ...input, endpoint: 'chat', body: t.body });
      if (!r.ok || codec.echo === undefined) return r;
      const meta = { ...r.request.meta, [ECHO_META]: JSON.stringify(codec.echo(input.body)) };
      return { ok: true, request: { ...r.request, meta } };
    },
    transformResponse: (_endpoint, text, alias, request) =>
      bridgeResponse(family, codec, text, alias, request),
    createStreamTranslator(o: StreamOptions): StreamTranslator {
      // The encoder needs the usage chunk to close the message, whatever the caller asked.
      const inner = family.createStreamTranslator({
        endpoint: 'chat',
        alias: o.alias,
        forwardUsageChunk: true,
        ...(o.request ? { request: o.request } : {}),
      });
      return new BridgeStreamTranslator(
        inner,
        codec.encoder(o.alias, () => inner.usage, echoOf(o.request)),
      );
    },
    parseError: (status, text, headers) => family.parseError(status, text, headers),
  };
}

const bridges = new WeakMap<BridgeCodec, WeakMap<ProviderAdapter, ProviderAdapter>>();

/** The bridge adapter for (family, codec), built once per pair. */
export function bridgeAdapter(family: ProviderAdapter, codec: BridgeCodec): ProviderAdapter {
  let byFamily = bridges.get(codec);
  if (!byFamily) {
    byFamily = new WeakMap();
    bridges.set(codec, byFamily);
  }
  let a = byFamily.get(family);
  if (!a) {
    a = createBridge(family, codec);
    byFamily.set(family, a);
  }
  return a;
}
