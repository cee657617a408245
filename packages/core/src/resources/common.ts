/**
 * Shared building blocks for the resource schemas: the strict/lenient object factory, number
 * and string primitives, the RateLimit object, timestamps and the "rule" checks whose
 * failures read as typed-decode errors rather than schema errors.
 *
 * One definition per kind serves both modes. `strict` (Admin API and file writes) rejects
 * unknown fields, except on open roots where they are dropped. `lenient` (etcd reads) keeps
 * them and records each object that carried some, so `validate.ts` can report the paths
 * without a second parse. Messages never contain submitted values: `validate.ts` renders
 * issues from their schema side only, and every custom message here is static text.
 */
import * as v from 'valibot';

export type Mode = 'strict' | 'lenient';

/** Schema with typed input/output; the concrete valibot class is irrelevant to callers. */
export type Schema<TIn, TOut> = v.GenericSchema<TIn, TOut>;
export type ObjSchema<E extends v.ObjectEntries> = Schema<
  v.InferInput<v.ObjectSchema<E, undefined>>,
  v.InferOutput<v.ObjectSchema<E, undefined>>
>;

// ---------------------------------------------------------------------------------------------
// Unknown-field recording (lenient mode)

let recording: Map<object, string[]> | null = null;

/**
 * Runs `fn` while lenient objects record their unknown keys. The map is keyed by the output
 * object, so only objects that end up in the final value are found by the walker later.
 */
export function withUnknownRecording<T>(fn: () => T): { result: T; unknown: Map<object, string[]> } {
  const previous = recording;
  const map = new Map<object, string[]>();
  recording = map;
  try {
    return { result: fn(), unknown: map };
  } finally {
    recording = previous;
  }
}

function recordUnknown<T extends object>(o: T, entries: v.ObjectEntries): T {
  if (recording === null) return o;
  let extra: string[] | undefined;
  for (const k in o) {
    if (Object.hasOwn(entries, k)) continue;
    if (extra === undefined) extra = [k];
    else extra.push(k);
  }
  if (extra !== undefined) recording.set(o, extra);
  return o;
}

/**
 * For transforms that build a new object from a lenient one: keeps its recorded unknown
 * keys attached to the replacement, so they are still reported.
 */
export function carryUnknown<T extends object>(from: object, to: T): T {
  const extra = recording?.get(from);
  if (extra !== undefined && recording !== null) {
    recording.delete(from);
    recording.set(to, extra);
  }
  return to;
}

/**
 * valibot's object and record schemas accept arrays; JSON Schema's `object` does not. This
 * guard runs first so `rate_limit: []` is a type error rather than an empty object.
 */
const jsonObject = v.custom<Record<string, unknown>>(
  (x) => typeof x === 'object' && x !== null && !Array.isArray(x),
  'invalid type: expected Object',
);

function lenientObject<E extends v.ObjectEntries>(entries: E): ObjSchema<E> {
  const s = v.pipe(
    jsonObject,
    v.looseObject(entries),
    v.transform((o) => recordUnknown(o, entries)),
  );
  return s as unknown as ObjSchema<E>;
}

/** A closed object: unknown fields rejected when strict, kept and recorded when lenient. */
export function obj<E extends v.ObjectEntries>(mode: Mode, entries: E): ObjSchema<E> {
  if (mode === 'lenient') return lenientObject(entries);
  return v.pipe(jsonObject, v.strictObject(entries)) as unknown as ObjSchema<E>;
}

/** An open root: unknown fields are ignored (dropped) when strict, kept and recorded when lenient. */
export function openObj<E extends v.ObjectEntries>(mode: Mode, entries: E): ObjSchema<E> {
  if (mode === 'lenient') return lenientObject(entries);
  return v.pipe(jsonObject, v.object(entries)) as unknown as ObjSchema<E>;
}

/** A JSON object used as a map (string keys, values of one schema). */
export function map<S extends v.GenericSchema>(value: S) {
  return v.pipe(jsonObject, v.record(v.string(), value));
}

/**
 * A tagged union chosen by the string at `key` (guardrail and exporter kinds, latency modes).
 * Only the chosen branch runs, so its issues are the ones reported; a missing or unknown tag
 * is reported at `/<key>` with the list of accepted values.
 */
export function discriminated<const B extends Record<string, v.GenericSchema>>(
  key: string,
  branches: B,
): Schema<v.InferInput<B[keyof B]>, v.InferOutput<B[keyof B]>> {
  const names = Object.keys(branches) as [string, ...string[]];
  const fallback = v.pipe(jsonObject, v.object({ [key]: v.picklist(names) }));
  const s = v.lazy((input) => {
    if (isPlainObject(input)) {
      const tag = input[key];
      if (typeof tag === 'string' && Object.hasOwn(branches, tag)) return branches[tag] as v.GenericSchema;
    }
    return fallback as v.GenericSchema;
  });
  return s as unknown as Schema<v.InferInput<B[keyof B]>, v.InferOutput<B[keyof B]>>;
}

// ---------------------------------------------------------------------------------------------
// Rules: checks whose failure is reported verbatim (typed decode / kind rule), not as a
// `schema validation failed at ...` message.

const RULE_MESSAGES = new Set<string>();

export function isRuleMessage(message: string): boolean {
  return RULE_MESSAGES.has(message);
}

/** `malformed <Type> payload: <detail>` style failure, checked after the schema passed. */
export function rule<T>(ok: (value: T) => boolean, message: string): v.CheckAction<T, string> {
  RULE_MESSAGES.add(message);
  return v.check(ok, message);
}

/** Issue path item for raw checks that point below the object they run on. */
export function pathItem(key: string | number, value: unknown): v.UnknownPathItem {
  return { type: 'unknown', origin: 'value', input: undefined, key, value };
}

// ---------------------------------------------------------------------------------------------
// Primitives

export const U32_MAX = 4_294_967_295;

/** Non-negative integer (u64 in the reference; JS numbers are exact up to 2^53). */
export const u64 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
export const u32 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(U32_MAX));
export const i32 = v.pipe(v.number(), v.integer(), v.minValue(-2_147_483_648), v.maxValue(2_147_483_647));

export function intRange(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  return v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
}

/**
 * Any finite number. JSON has no Infinity, but `1e400` parses to it (and YAML has `.inf`): a
 * non-finite value would pass a bare `v.number()` and be stored as `null`, a document the
 * loader then rejects.
 */
export const finiteNumber = v.pipe(v.number(), v.finite());

export function numRange(min: number, max: number = Number.MAX_VALUE) {
  return v.pipe(v.number(), v.finite(), v.minValue(min), v.maxValue(max));
}

/** Fraction 0..1 (thresholds, sample rates). */
export const unit = numRange(0, 1);

export const str = v.string();
/** String with at least one character. */
export const nonEmpty = v.pipe(v.string(), v.minLength(1));

/** An absolute http(s) URL (surrounding whitespace ignored). */
export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s.trim());
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * An upstream URL the gateway calls itself (MCP server, OAuth token endpoint, A2A agent, JWKS): on write it must
 * be an absolute http(s) URL, reported at the field; the lenient read keeps any non-empty string
 * so an older stored document still loads.
 */
export function httpUrl(mode: Mode) {
  return mode === 'strict'
    ? v.pipe(v.string(), v.minLength(1), v.check(isHttpUrl, 'must be an absolute http(s) URL'))
    : nonEmpty;
}

/** Characters (Unicode code points), as JSON Schema's `minLength`/`maxLength` count them. */
function codePoints(s: string): number {
  let n = s.length;
  // Each surrogate pair is two UTF-16 units but one character.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * A string of `min..max` characters. Counted in code points, not UTF-16 units: 60 emoji are 60
 * characters (valibot's `maxLength` would count 120).
 */
export function strLen(min: number, max: number) {
  const atLeast = v.check((s: string) => s.length >= min && codePoints(s) >= min, `length must be >= ${min}`);
  // Code points never outnumber units: only a string over `max` units needs counting.
  const atMost = v.check((s: string) => s.length <= max || codePoints(s) <= max, `length must be <= ${max}`);
  LENGTH_BOUNDS.set(atLeast, { minLength: min });
  LENGTH_BOUNDS.set(atMost, { maxLength: max });
  return v.pipe(v.string(), atLeast, atMost);
}

const LENGTH_BOUNDS = new WeakMap<object, { minLength: number } | { maxLength: number }>();

/** The JSON Schema bound a `strLen` check stands for (the Admin API's OpenAPI document shows it). */
export function lengthBound(action: object): { minLength: number } | { maxLength: number } | undefined {
  return LENGTH_BOUNDS.get(action);
}

export const strList = v.array(v.string());
export const nonEmptyStrList = v.array(nonEmpty);

/** HTTP status code lists (cooldown triggers, fallback statuses). */
export const statusList = v.array(intRange(100, 599));

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 3339 timestamp (`expires_at`, `created_at`). */
export const rfc3339 = v.pipe(
  v.string(),
  v.check((s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)), 'must be an RFC 3339 timestamp'),
);

/** Map of string to string (headers, renames). */
export const stringMap = map(v.string());

/** Plain JSON object of unknown content (OpenAPI specs, default body fields). */
export const anyObject = map(v.unknown());

// ---------------------------------------------------------------------------------------------
// RateLimit

export const RATE_LIMIT_FIELDS = ['rps', 'rpm', 'rph', 'rpd', 'tpm', 'tpd', 'concurrency'] as const;

/** Inline limits on models and api keys, and `limits` of conditional policies. */
export function rateLimit(mode: Mode) {
  return obj(mode, {
    rps: v.optional(u64),
    rpm: v.optional(u64),
    rph: v.optional(u64),
    rpd: v.optional(u64),
    tpm: v.optional(u64),
    tpd: v.optional(u64),
    concurrency: v.optional(u32),
  });
}

export type RateLimit = v.InferOutput<ReturnType<typeof rateLimit>>;

// ---------------------------------------------------------------------------------------------
// Name/display_name alias (MCP servers, A2A agents)

/** True when exactly one of `name` and `display_name` is present. */
export function exactlyOneLabel(o: {
  name?: string | undefined;
  display_name?: string | undefined;
}): boolean {
  return (o.name === undefined) !== (o.display_name === undefined);
}

/** Moves `display_name` to `name` (the stored/returned label). */
export function labelAsName<T extends { name?: string | undefined; display_name?: string | undefined }>(
  o: T,
): Omit<T, 'display_name' | 'name'> & { name: string } {
  const { display_name, name, ...rest } = o;
  return { name: (name ?? display_name) as string, ...rest };
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
