/**
 * The nesting bound of caller JSON bodies. V8 parses any depth, but the first recursive walk
 * over a deeper document (`JSON.stringify` of the upstream body, a guardrail's text walk)
 * overflows the stack: a 500 where bad input must be a 400. The bound is serde_json's default
 * recursion limit, so a body the reference parses is accepted here and one it refuses as invalid
 * JSON is refused too. Every route that parses a caller's JSON body checks it.
 */
export const MAX_JSON_DEPTH = 128;

/** The reason a too-deep body is refused with (after "invalid JSON request body: "). */
export const TOO_DEEP = `nested deeper than ${MAX_JSON_DEPTH} levels`;

/**
 * Whether `v` nests objects / arrays more than `MAX_JSON_DEPTH` levels (bounded recursion). Runs
 * on every body: indexed and `for…in` loops allocate nothing (`Object.values` measured 8x slower:
 * 38 against 4.6 µs on a 28 KB conversation, whose JSON.parse takes 110).
 */
export function nestedTooDeep(v: unknown, depth = 0): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (depth >= MAX_JSON_DEPTH) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x !== null && typeof x === 'object' && nestedTooDeep(x, depth + 1)) return true;
    }
    return false;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const x = o[k];
    if (x !== null && typeof x === 'object' && nestedTooDeep(x, depth + 1)) return true;
  }
  return false;
}
