/**
 * Pieces shared by the native passthrough adapters: the outbound header set (gateway-owned
 * headers first, then the operator's `default_headers` and the client headers the provider key
 * forwards — the same pipeline as every bridge, decision OP-3), the forwarded body (the
 * caller's body with `model` set to the upstream id and the provider key's renames, constraints
 * and default fields; the OpenAI-only `content_list_to_string` step does not apply here), the
 * request itself, the non-streaming answer, the stream relay skeleton and the capabilities.
 */
import type {
  Capabilities,
  PrepareInput,
  PrepareResult,
  StreamFailure,
  StreamTranslator,
  TransformResult,
  Usage,
} from '../../contract.js';
import { emptyUsage, refusal } from '../../contract.js';
import { applyBodyOverrides } from '../../shared/body.js';
import { upstreamSecret } from '../../shared/credentials.js';
import { applyDefaultHeaders, forwardClientHeaders } from '../../shared/headers.js';
import { modelKeyAtTop, rewriteModelField } from '../../shared/json-scan.js';
import type { BaseResult } from '../../shared/url.js';
import { isObject } from './chat-types.js';
import { RawSseSplitter } from './raw-sse.js';

function nativeHeaders(input: PrepareInput, credential: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {
    ...credential,
    'content-type': 'application/json',
    accept: input.stream ? 'text/event-stream' : 'application/json',
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  const req = input.providerKey.request;
  applyDefaultHeaders(headers, req?.default_headers, input.templateVars);
  forwardClientHeaders(headers, req?.forward_client_headers, input);
  return headers;
}

function nativeBody(input: PrepareInput): string {
  const body: Record<string, unknown> = { ...input.body, model: input.upstreamModel };
  applyBodyOverrides(body, { ...input.providerKey, response: null });
  return JSON.stringify(body);
}

/**
 * The native upstream request: `url` (the key's base resolved for the dialect; refused as
 * `invalid_config`), then the key's secret (refused as `invalid_credentials`) turned into the
 * gateway-owned credential headers by `credential`; `target` maps the resolved URL to the one
 * called (default: itself).
 */
export function nativePrepare(
  input: PrepareInput,
  url: BaseResult,
  credential: (secret: string) => Record<string, string>,
  target: (url: URL) => URL = (u) => u,
): PrepareResult {
  if (!url.ok) return refusal('invalid_config', url.message);
  const secret = upstreamSecret(input.providerKey);
  if (!secret.ok) return refusal('invalid_credentials', secret.message);
  const headers = nativeHeaders(input, credential(secret.value));
  return { ok: true, request: { url: target(url.url), headers, body: nativeBody(input) } };
}

/**
 * A non-streaming native answer: it must be a JSON object; its `usage` is read by `readUsage`;
 * the body comes back as sent, with its top-level `model` set to the alias when `rewrite`.
 */
export function nativeTransform(
  text: string,
  alias: string,
  readUsage: (usage: unknown, into: Usage) => void,
  rewrite = true,
): TransformResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, message: 'upstream returned an unparseable body: invalid JSON' };
  }
  if (!isObject(parsed))
    return { ok: false, message: 'upstream returned an unparseable body: not a JSON object' };
  const usage = emptyUsage();
  readUsage(parsed.usage, usage);
  return { ok: true, body: rewrite ? withAlias(text, parsed, alias) : text, usage };
}

/**
 * The answer with its top-level `model` set to the alias. The text is patched in place when that
 * key is the first `"model"` of the text (vendors put it before `content` / `output`); otherwise
 * (a tool input or a schema with its own `model` key comes first) the parsed object is
 * re-serialized, so nothing nested is touched.
 */
function withAlias(text: string, parsed: Record<string, unknown>, alias: string): string {
  if (modelKeyAtTop(text)) return rewriteModelField(text, JSON.stringify(alias));
  const m = parsed.model;
  return typeof m === 'string' || m === null ? JSON.stringify({ ...parsed, model: alias }) : text;
}

/**
 * The stream relay of a native passthrough: raw SSE events go to `event` (which returns what is
 * relayed and sets `done` on the wire's terminal event, `failure`, `sawOutput`, `delivered` and
 * `usage`); nothing more is read once the stream is done or failed.
 */
export abstract class NativePassthrough implements StreamTranslator {
  done = false;
  failure: StreamFailure | undefined;
  readonly usage: Usage = emptyUsage();
  sawOutput = false;
  delivered = 0;
  private readonly split = new RawSseSplitter((raw, event, data) => this.event(raw, event, data));

  push(chunk: Buffer): string {
    return this.done || this.failure ? '' : this.split.push(chunk);
  }

  end(): string {
    if (this.done || this.failure) return '';
    const out = this.split.end();
    if (this.failure || this.done) return out;
    // The wire names its last event: a stream that ends without it after events went out was cut
    // (whatever closed the connection), and the caller gets the error frame instead of a silent
    // truncation. With nothing relayed the gateway's empty-stream rule applies.
    if (this.delivered > 0) this.failure = { kind: 'decode', message: this.cutMessage };
    else this.done = true;
    return out;
  }

  /** The failure message of a stream that ended before its terminal event. */
  protected abstract readonly cutMessage: string;
  abstract errorFrame(message: string, type: string): string;

  protected abstract event(raw: string, event: string | undefined, data: string | undefined): string;
}

/** A native passthrough answers the chat endpoint only (streaming when `chatStream`). */
export function nativeCapabilities(chatStream: boolean): Capabilities {
  return {
    chat: true,
    chatStream,
    completions: false,
    completionsStream: false,
    embeddings: false,
  };
}
