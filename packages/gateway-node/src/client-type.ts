/**
 * The bounded `client_type` label of `aisix_llm_tokens_by_client_total` (data-plane §12.2): the
 * caller's `User-Agent` classified by the operator's `observability.metrics.client_type_rules`
 * first (case-insensitive, unanchored regex, first match wins), then by a built-in substring
 * table, else `other`; a missing or empty User-Agent is `unknown`.
 *
 * Hot path: the answer is cached per distinct User-Agent string in a bounded map (oldest entry
 * evicted past `MAX_CACHED`), so a steady client costs one Map lookup.
 */

export interface ClientTypeRuleInput {
  readonly pattern: string;
  readonly client: string;
}

/**
 * Built-in classification, in order (first match wins): specific tools before the SDKs they are
 * built on (an agent may embed the openai SDK's token in its own User-Agent). Needles are
 * lowercase substrings of the lowercased User-Agent.
 */
export const BUILTIN_CLIENT_TYPES: readonly (readonly [client: string, needles: readonly string[]])[] = [
  ['claude-code', ['claude-code', 'claude-cli']],
  ['codex', ['codex']],
  ['cline', ['cline']],
  ['roo-code', ['roo-code', 'roocode']],
  ['cursor', ['cursor']],
  ['aider', ['aider']],
  ['continue', ['continue/']],
  ['langchain', ['langchain']],
  ['litellm', ['litellm']],
  ['llamaindex', ['llama-index', 'llama_index', 'llamaindex']],
  ['openai-python', ['openai/python']],
  ['openai-node', ['openai/js']],
  ['anthropic-python', ['anthropic/python']],
  ['anthropic-node', ['anthropic/js']],
  ['curl', ['curl/']],
  ['python-requests', ['python-requests/']],
  ['python-httpx', ['python-httpx/']],
  ['postman', ['postmanruntime/']],
  ['go-http-client', ['go-http-client/']],
];

const MAX_CACHED = 1000;

export type ClientClassifier = (userAgent: string | undefined) => string;

function builtin(ua: string): string {
  const lower = ua.toLowerCase();
  for (const [client, needles] of BUILTIN_CLIENT_TYPES) {
    for (const n of needles) if (lower.includes(n)) return client;
  }
  return 'other';
}

/** Compiles the operator rules once (patterns as config validation reads them: Rust-style
 * `(?P<n>…)` groups accepted) and returns the cached classifier. */
export function createClientClassifier(rules: readonly ClientTypeRuleInput[] = []): ClientClassifier {
  const compiled = rules.map((r) => ({
    re: new RegExp(r.pattern.replace(/\(\?P</g, '(?<'), 'i'),
    client: r.client,
  }));
  const cache = new Map<string, string>();
  const classify = (ua: string): string => {
    if (ua.trim() === '') return 'unknown';
    for (const r of compiled) if (r.re.test(ua)) return r.client;
    return builtin(ua);
  };
  return (ua) => {
    if (ua === undefined || ua === '') return 'unknown';
    let c = cache.get(ua);
    if (c === undefined) {
      c = classify(ua);
      if (cache.size >= MAX_CACHED) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(ua, c);
    }
    return c;
  };
}
