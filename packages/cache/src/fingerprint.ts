/**
 * Cache keys (data-plane §10.3): a SHA-256 over an unambiguous serialization of everything that
 * can change an answer, so two requests share an entry only when an upstream would have seen
 * the same request from the same cache partition.
 *
 * Unambiguous = injective: every value is written with a one-letter type tag and every string
 * and container with a length/count prefix, so no field value (whatever characters it holds)
 * can be read as a boundary and no two different inputs produce the same byte stream. The
 * spec's "canonical JSON" is realised as this tagged encoding: two JSON values encode alike
 * exactly when their canonical JSON (object keys sorted recursively, arrays in order) is equal,
 * and the encoding needs no escaping pass, which matters for 100 KB+ prompts.
 *
 * The hash is fed incrementally: small pieces are batched in a short string (one native
 * `update` call per ~8 KB instead of one per token); long strings go to the hash directly,
 * never copied into a larger intermediate. A typical request fits in one batch: it is then
 * hashed in one call (`crypto.hash`), without a Hash object.
 */
import * as crypto from 'node:crypto';
import type { CompiledCachePolicy } from './types.js';

/** Bump when the serialization changes: old entries then simply stop matching. */
const KEY_DOMAIN = 'aisix-cache-key/1';
const SCOPE_DOMAIN = 'aisix-cache-scope/1';

/** The API surface a request came through: identical bodies on two endpoints never share. */
export type EndpointFamily = 'chat' | 'completions' | 'embeddings' | 'messages' | 'responses';

export interface CacheKeyInput {
  readonly endpoint: EndpointFamily;
  /** The caller asked for a stream: SSE bytes and a JSON body are separate entries. */
  readonly stream: boolean;
  /** The model name the caller requested (alias), not the upstream model. */
  readonly model: string;
  /** The parsed request body; `model`, `stream` (and `messages` when an array) are read apart. */
  readonly body: Readonly<Record<string, unknown>>;
  readonly policy: Pick<CompiledCachePolicy, 'id' | 'purgeGeneration' | 'scope'>;
  /** The caller's key id; part of the key only when the policy's scope is `api_key`. */
  readonly apiKeyId: string;
}

/** What identifies an embedding vector space (a changed model must not match old vectors). */
export interface EmbeddingIdentity {
  /** Model resource id. */
  readonly id: string;
  /** Upstream model name. */
  readonly name: string;
  readonly dimensions?: number | undefined;
}

/** Objects nested deeper than this are refused (a throw: the caller does not cache). */
const MAX_DEPTH = 256;
/** Batched characters before one `update` call. */
const FLUSH_AT = 8192;
/** Strings this long bypass the batch (no copy into it). */
const DIRECT_AT = 1024;

/** Fields with their own slot in the serialization (not repeated among "other fields"). */
const OWN_FIELDS = new Set(['model', 'stream', 'temperature', 'top_p', 'max_tokens']);

/**
 * The incremental writer. Tags are single ASCII letters/punctuation; counts are decimal digits
 * ended by `:`. Strings: `s<len>:<utf-8>` when well-formed; a string with lone surrogates (only
 * reachable through `\ud800`-style JSON escapes) is written `w<len>:<utf-16le>` because UTF-8
 * would fold every lone surrogate into U+FFFD and make distinct strings collide. The length
 * counts UTF-16 code units (no extra scan); a reader would decode that many units' worth of
 * UTF-8, so the boundary is still exact.
 */
class Feed {
  /**
   * The batch as pieces, joined once (into a flat string) when it is read. Built with `+=` it
   * was a rope of some 40 pieces that the memory store's `Map` lookup had to flatten and hash,
   * walking cells allocated long before: ~2 µs per request under load against ~0.4 in a loop.
   */
  private parts: string[] = [];
  private len = 0;
  /** Created at the first flush; a key that never flushes is hashed in one call. */
  private hash: crypto.Hash | undefined;

  private put(s: string): void {
    this.parts.push(s);
    this.len += s.length;
  }

  tag(t: string): void {
    this.put(t);
  }

  int(n: number): void {
    this.put(`${n}:`);
  }

  str(s: string): void {
    if (!s.isWellFormed()) {
      this.put(`w${s.length}:`);
      this.flush();
      this.h().update(s, 'utf16le');
      return;
    }
    this.put(`s${s.length}:`);
    if (s.length >= DIRECT_AT) {
      this.flush();
      this.h().update(s, 'utf8');
    } else {
      this.put(s);
      if (this.len >= FLUSH_AT) this.flush();
    }
  }

  /** What was fed, when it is all still in the batch and at most `max` characters. */
  text(max: number): string | undefined {
    return this.hash === undefined && this.len <= max ? this.parts.join('') : undefined;
  }

  digest(): string {
    if (this.hash === undefined) return sha256Hex(this.parts.join(''));
    this.flush();
    return this.hash.digest('hex');
  }

  private h(): crypto.Hash {
    let h = this.hash;
    if (h === undefined) {
      h = crypto.createHash('sha256');
      this.hash = h;
    }
    return h;
  }

  private flush(): void {
    if (this.len > 0) {
      this.h().update(this.parts.join(''), 'utf8');
      this.parts = [];
      this.len = 0;
    }
  }
}

/** One-shot SHA-256 of a string's UTF-8 (`crypto.hash`, Node >= 20.12; engines: >= 20.19). */
const sha256Hex = (s: string): string => crypto.hash('sha256', s, 'hex');

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON value, canonically (object keys sorted; `undefined` members skipped as JSON does). */
function value(f: Feed, v: unknown, depth: number): void {
  switch (typeof v) {
    case 'string':
      f.str(v);
      return;
    case 'number':
      // String(-0) is "0" and 1.0 parses to 1: numbers equal as JSON values encode alike.
      f.tag('d');
      f.str(String(v));
      return;
    case 'boolean':
      f.tag(v ? 'T' : 'F');
      return;
    case 'undefined':
      f.tag('n'); // only reached inside arrays, where JSON.stringify writes null
      return;
    case 'object':
      if (v === null) {
        f.tag('n');
        return;
      }
      if (depth >= MAX_DEPTH) throw new RangeError(`cache key: body nested deeper than ${MAX_DEPTH} levels`);
      if (Array.isArray(v)) {
        f.tag('[');
        f.int(v.length);
        for (const item of v) value(f, item, depth + 1);
        return;
      }
      f.tag('{');
      fields(f, v as Record<string, unknown>, undefined, depth + 1);
      return;
    default:
      // bigint/function/symbol never come out of JSON.parse; keep them distinct anyway.
      f.tag('?');
      f.str(String(v));
  }
}

/** `count:` then (key, value) pairs sorted by key, skipping `undefined` and excluded keys. */
function fields(
  f: Feed,
  o: Readonly<Record<string, unknown>>,
  exclude: ((k: string) => boolean) | undefined,
  depth: number,
): void {
  const keys: string[] = [];
  for (const k of Object.keys(o))
    if (o[k] !== undefined && (exclude === undefined || !exclude(k))) keys.push(k);
  keys.sort(); // UTF-16 code unit order: deterministic, locale-free
  f.int(keys.length);
  for (const k of keys) {
    f.str(k);
    value(f, o[k], depth);
  }
}

/** An optional value: `a` when absent, distinct from any present value (absent is not 0). */
function opt(f: Feed, v: unknown): void {
  if (v === undefined) f.tag('a');
  else value(f, v, 1);
}

/** temperature / top_p: numbers quantised to thousandths (0.7 ≡ 0.7000001, 0.7 ≠ 0.701). */
function sampling(f: Feed, v: unknown): void {
  if (typeof v === 'number' && Number.isFinite(v)) {
    f.tag('q');
    f.int(Math.round(v * 1000) + 0); // `+ 0` turns -0 into 0
  } else {
    opt(f, v);
  }
}

/** One message: role, then `t` plain text, `b` parts array, or `j` the whole message minus role. */
function message(f: Feed, m: unknown): void {
  if (!isPlainObject(m)) {
    f.tag('x');
    value(f, m, 1);
    return;
  }
  f.tag('m');
  opt(f, m.role);
  let extra = false;
  for (const k of Object.keys(m)) {
    if (k !== 'role' && k !== 'content' && m[k] !== undefined) {
      extra = true;
      break;
    }
  }
  const content = m.content;
  if (!extra && typeof content === 'string') {
    f.tag('t');
    f.str(content);
  } else if (!extra && Array.isArray(content)) {
    f.tag('b');
    value(f, content, 1);
  } else {
    f.tag('j');
    fields(f, m, (k) => k === 'role', 2);
  }
}

/** Everything but the messages: shared by the exact key and the semantic partition key. */
function head(f: Feed, domain: string, input: CacheKeyInput, exclude: (k: string) => boolean): void {
  const { body } = input;
  f.str(domain);
  f.str(input.endpoint);
  f.tag(input.stream ? 'S' : 'J');
  f.str(input.model);
  sampling(f, body.temperature);
  sampling(f, body.top_p);
  opt(f, body.max_tokens);
  fields(f, body, exclude, 1);
  f.str(input.policy.id);
  f.int(input.policy.purgeGeneration);
  if (input.policy.scope === 'env') {
    f.tag('E');
  } else {
    f.tag('K');
    f.str(input.apiKeyId);
  }
}

/**
 * The exact-layer cache key: 64 hex chars. Throws RangeError for bodies nested deeper than
 * 256 levels (treat as "not cacheable"; such a body cannot be forwarded sensibly either).
 */
export function cacheKey(input: CacheKeyInput): string {
  return exactFeed(input).digest();
}

/** Longest serialization `localCacheKey` keeps as it is (UTF-16 code units). */
export const LOCAL_KEY_MAX_CHARS = 512;

/**
 * The exact-layer key for a store inside this process (the memory backend): the serialization
 * itself when it is short, else `cacheKey`. The serialization is injective, so it needs no hash
 * to tell requests apart; the hash is for keys that leave the process (Redis) or grow long. SHA-256
 * of a short key cost ~1.6 µs per request in place (cold caches between requests) against
 * ~0.35 µs in a loop. The two forms never meet: a serialization starts with the tagged domain
 * (`s17:aisix-cache-key/1`), a digest is 64 hex characters.
 */
export function localCacheKey(input: CacheKeyInput): string {
  const f = exactFeed(input);
  return f.text(LOCAL_KEY_MAX_CHARS) ?? f.digest();
}

function exactFeed(input: CacheKeyInput): Feed {
  const f = new Feed();
  const messages = input.body.messages;
  const chat = Array.isArray(messages);
  // When `messages` is not an array (other endpoints, or a malformed body) it is just a field.
  head(f, KEY_DOMAIN, input, (k) => OWN_FIELDS.has(k) || (chat && k === 'messages'));
  if (chat) {
    f.tag('M');
    f.int(messages.length);
    for (const m of messages) message(f, m);
  } else {
    f.tag('-');
  }
  return f;
}

/**
 * The semantic partition: the same fingerprint without the messages, plus the embedding
 * model's identity. Vectors are only compared inside one partition, so a hit never crosses
 * models, parameters, keys (scope api_key), purge generations or embedding spaces.
 */
export function scopeKey(input: CacheKeyInput, embedding: EmbeddingIdentity): string {
  const f = new Feed();
  head(f, SCOPE_DOMAIN, input, (k) => OWN_FIELDS.has(k) || k === 'messages');
  f.str(embedding.id);
  f.str(embedding.name);
  opt(f, embedding.dimensions);
  return f.digest();
}

const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r' };
const escapeLine = (s: string): string =>
  /[\\\n\r]/.test(s) ? s.replace(/[\\\n\r]/g, (c) => ESCAPES[c]!) : s;

/**
 * The text embedded for the semantic layer: one `role: content` line per message, with
 * backslashes and line breaks escaped so a message can never forge another line. Undefined
 * unless every message is plain text (string role and content, no name/tool fields): tool
 * turns and multimodal parts have no faithful text form, so they stay exact-only.
 */
export function semanticText(body: Readonly<Record<string, unknown>>): string | undefined {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) return undefined;
  const lines: string[] = [];
  for (const m of messages) {
    if (!isPlainObject(m) || typeof m.role !== 'string' || typeof m.content !== 'string') return undefined;
    for (const k of Object.keys(m))
      if (k !== 'role' && k !== 'content' && m[k] !== undefined) return undefined;
    lines.push(`${escapeLine(m.role)}: ${escapeLine(m.content)}`);
  }
  return lines.join('\n');
}
