/**
 * Video-generation vendors behind one contract (`contract.ts`): which Model `provider` values
 * `/v1/videos` serves, where each vendor's task API lives relative to the provider key's
 * `api_base`, the headers of each call and how provider errors read.
 *
 * Leaves out: the HTTP calls, retries, the gateway's video id and the response object — those
 * are the gateway's (`gateway-node/src/videos/`).
 */
import type { ClientHeaders, ProviderKeyView, TemplateVars } from '../contract.js';
import { upstreamSecret } from '../shared/credentials.js';
import { truncateBytes } from '../shared/errors.js';
import { applyDefaultHeaders, forwardClientHeaders } from '../shared/headers.js';
import { openAiUrl } from '../shared/url.js';
import { alibabaVideos } from './alibaba.js';
import type { VideoVendor } from './contract.js';
import { at, text } from './fields.js';
import { openaiVideos } from './openai.js';
import { runwayVideos } from './runway.js';
import { volcengineVideos } from './volcengine.js';
import { zhipuVideos } from './zhipu.js';

export type * from './contract.js';

export const VIDEO_VENDORS: readonly VideoVendor[] = [
  alibabaVideos,
  zhipuVideos,
  volcengineVideos,
  runwayVideos,
  openaiVideos,
];

const byId = new Map<string, VideoVendor>();
for (const v of VIDEO_VENDORS) for (const id of v.ids) byId.set(id, v);

/** The vendor serving a Model `provider` (case-insensitive), or undefined. */
export function videoVendor(provider: string | null | undefined): VideoVendor | undefined {
  return provider ? byId.get(provider.toLowerCase()) : undefined;
}

export interface VideoUrls {
  readonly submit: URL;
  poll(task: string): URL;
  /** Proxy vendors only. */
  content(task: string): URL | undefined;
}

export type VideoResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string };

function withPath(base: URL, path: string): URL {
  const u = new URL(base.href);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
  return u;
}

/** The vendor root of `api_base`: trimmed, fragment and query dropped, one known suffix stripped. */
function vendorRoot(v: VideoVendor, apiBase: string): VideoResult<URL> {
  let b = apiBase.trim();
  const cut = b.search(/[?#]/);
  if (cut >= 0) b = b.slice(0, cut);
  while (b.endsWith('/')) b = b.slice(0, -1);
  for (const s of v.rootSuffixes) {
    if (b.endsWith(s)) {
      b = b.slice(0, -s.length);
      break;
    }
  }
  try {
    const u = new URL(b);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    return { ok: true, value: u };
  } catch {
    return { ok: false, message: 'invalid upstream configuration: provider_key api_base is not a valid URL' };
  }
}

/** Submit, poll and content URLs of a vendor for a provider key's `api_base`. */
export function videoUrls(v: VideoVendor, apiBase: string | null | undefined): VideoResult<VideoUrls> {
  const given = (apiBase ?? '').trim();
  let root: VideoResult<URL>;
  if (v.defaultBase !== undefined) {
    // The OpenAI-family join (a bare host gets `/v1`), on the default host when none is set.
    const r = openAiUrl(given === '' ? v.defaultBase : given, v.id, '', false);
    root = r.ok ? { ok: true, value: r.url } : r;
  } else if (given === '') {
    return {
      ok: false,
      message: `invalid upstream configuration: provider_key for vendor ${JSON.stringify(v.id)} has no upstream base URL configured`,
    };
  } else root = vendorRoot(v, given);
  if (!root.ok) return root;
  const base = root.value;
  const contentPath = v.contentPath;
  return {
    ok: true,
    value: {
      submit: withPath(base, v.submitPath),
      poll: (task) => withPath(base, v.pollPath(task)),
      content: (task) => (contentPath ? withPath(base, contentPath(task)) : undefined),
    },
  };
}

export interface VideoHeaderInput extends ClientHeaders {
  readonly providerKey: ProviderKeyView;
  readonly requestId: string;
  readonly userAgent: string;
  readonly templateVars: TemplateVars;
}

/**
 * Headers of one call: the PK bearer, request id, user agent, the vendor's own headers and, on
 * submit, the JSON content type; then the PK's `default_headers` and forwarded client headers,
 * which never override any of those.
 */
export function videoHeaders(
  v: VideoVendor,
  phase: 'submit' | 'poll' | 'content',
  input: VideoHeaderInput,
): VideoResult<Record<string, string>> {
  const secret = upstreamSecret(input.providerKey);
  if (!secret.ok) return secret;
  const h: Record<string, string> = {
    authorization: `Bearer ${secret.value}`,
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  if (phase === 'submit') h['content-type'] = 'application/json';
  const own = phase === 'submit' ? v.headers?.submit : v.headers?.poll;
  if (own) Object.assign(h, own);
  const pk = input.providerKey;
  applyDefaultHeaders(h, pk.request?.default_headers, input.templateVars);
  forwardClientHeaders(h, pk.request?.forward_client_headers, input);
  return { ok: true, value: h };
}

/**
 * A provider error body as one message: `{error: {code, message}}` or top-level
 * `{code, message}` read as `code: message` (either alone when the other is missing); a bare
 * `{error: "..."}` string (Runway) is its own message; anything else `upstream error`.
 */
export function videoErrorMessage(body: string): string {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return 'upstream error';
  }
  const nested = at(doc, 'error');
  if (typeof nested === 'string' && nested !== '') return truncateBytes(nested);
  const src = nested !== null && typeof nested === 'object' ? nested : doc;
  const code = text(at(src, 'code'));
  const message = text(at(src, 'message'));
  const out = code && message ? `${code}: ${message}` : (message ?? code ?? 'upstream error');
  return truncateBytes(out);
}
