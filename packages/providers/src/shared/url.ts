/**
 * Upstream URL building from a ProviderKey's `api_base` (data-plane §5.3), kept exactly as the
 * reference builds it so an existing config reaches the same upstream (decision OP-2):
 *
 * - trim whitespace and trailing `/`, then strip one pasted endpoint suffix;
 * - OpenAI family: `<base><endpoint>`; a bare host (no path) gets `/v1` first — except on chat
 *   completions, where only `api.openai.com` gets it (the reference quirk);
 * - Anthropic family: `<base without one trailing /v1>/v1/messages`, mounted paths kept;
 * - no `api_base`: the family's public default, but only for its own vendor (or no vendor), so a
 *   third-party key is never sent to OpenAI/Anthropic.
 */

export const OPENAI_DEFAULT_BASE = 'https://api.openai.com/v1';
export const ANTHROPIC_DEFAULT_BASE = 'https://api.anthropic.com';

const OPENAI_SUFFIXES = [
  '/chat/completions',
  '/completions',
  '/embeddings',
  '/images/generations',
  '/audio/speech',
  '/audio/transcriptions',
  '/audio/translations',
  '/responses',
  '/messages',
  '/rerank',
] as const;

/** Trims whitespace and trailing `/` and splits off a query string (kept after the endpoint
 * path: `https://gw/v1?tenant=a` + `/embeddings` = `https://gw/v1/embeddings?tenant=a`). A
 * fragment never reaches a server, so it is dropped rather than left to swallow the endpoint. */
function trimBase(base: string): { path: string; query: string } {
  let b = base.trim();
  const hash = b.indexOf('#');
  if (hash >= 0) b = b.slice(0, hash);
  const q = b.indexOf('?');
  const query = q < 0 ? '' : b.slice(q);
  if (q >= 0) b = b.slice(0, q);
  while (b.endsWith('/')) b = b.slice(0, -1);
  return { path: b, query };
}

function stripSuffix(base: string, suffixes: readonly string[]): string {
  for (const s of suffixes) {
    if (base.endsWith(s)) {
      let b = base.slice(0, -s.length);
      while (b.endsWith('/')) b = b.slice(0, -1);
      return b;
    }
  }
  return base;
}

/** True when the URL has no path beyond `/`. */
function isBareHost(u: URL): boolean {
  return u.pathname === '' || u.pathname === '/';
}

export type BaseResult =
  | { readonly ok: true; readonly url: URL }
  | { readonly ok: false; readonly message: string };

function missingBase(vendor: string): BaseResult {
  return {
    ok: false,
    message: `invalid upstream configuration: provider_key for vendor ${JSON.stringify(vendor)} has no upstream base URL configured`,
  };
}

function parse(base: string): BaseResult {
  try {
    return { ok: true, url: new URL(base) };
  } catch {
    return { ok: false, message: 'invalid upstream configuration: provider_key api_base is not a valid URL' };
  }
}

/**
 * OpenAI-family URL for `endpoint` (e.g. `/chat/completions`). `vendor` is `pk.provider`
 * (empty when unset); `chatBridge` selects the chat-completions bare-host quirk.
 */
export function openAiUrl(
  apiBase: string | null | undefined,
  vendor: string,
  endpoint: string,
  chatBridge: boolean,
): BaseResult {
  // Memoized: this runs per upstream attempt and parses two URLs. The result is shared, so the
  // returned URL must be treated as read-only (every caller does).
  const key = `${chatBridge ? 1 : 0}\n${vendor}\n${endpoint}\n${apiBase ?? ''}`;
  let r = urlCache.get(key);
  if (r === undefined) {
    r = buildOpenAiUrl(apiBase, vendor, endpoint, chatBridge);
    if (urlCache.size >= URL_CACHE_MAX) urlCache.clear();
    urlCache.set(key, r);
  }
  return r;
}

const URL_CACHE_MAX = 1024;
const urlCache = new Map<string, BaseResult>();

function buildOpenAiUrl(
  apiBase: string | null | undefined,
  vendor: string,
  endpoint: string,
  chatBridge: boolean,
): BaseResult {
  const { path: trimmed, query } = trimBase(apiBase ?? '');
  if (trimmed === '') {
    if (vendor !== '' && vendor !== 'openai') return missingBase(vendor);
    return parse(OPENAI_DEFAULT_BASE + endpoint);
  }
  const stripped = stripSuffix(trimmed, OPENAI_SUFFIXES);
  const parsed = parse(stripped);
  if (!parsed.ok) return parsed;
  const u = parsed.url;
  let base = stripped;
  if (isBareHost(u) && (!chatBridge || u.hostname === 'api.openai.com')) base = `${u.origin}/v1`;
  else if (isBareHost(u)) base = u.origin;
  return parse(base + endpoint + query);
}

/** Anthropic-family messages URL. */
export function anthropicUrl(apiBase: string | null | undefined, vendor: string): BaseResult {
  const { path: trimmed, query } = trimBase(apiBase ?? '');
  if (trimmed === '') {
    if (vendor !== '' && vendor !== 'anthropic') return missingBase(vendor);
    return parse(`${ANTHROPIC_DEFAULT_BASE}/v1/messages`);
  }
  let root = stripSuffix(trimmed, ['/v1/messages']);
  if (root.endsWith('/v1')) root = root.slice(0, -3);
  return parse(`${root}/v1/messages${query}`);
}
