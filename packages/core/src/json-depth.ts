/**
 * How deep a resource document may nest: 128, serde_json's recursion limit, which the
 * reference's JSON extractor applies to admin bodies (and the proxy applies to request bodies,
 * see decisions.md). Every resource schema is a few levels deep; a value
 * nested thousands of levels (a 2 MiB body or a 1.5 MiB etcd value holds ~400k) would overflow
 * the stack of the recursive steps that handle documents (structured clones, merge patch,
 * validation, masking), ending as a 500 on every read or write of it. The Admin API refuses
 * such a body (400 at its pointer); a stored one is treated as no document (409 on a GET, RED
 * `non_json` in the loader).
 */
export const MAX_DOCUMENT_DEPTH = 128;

/** Why a value past the bound is refused (request bodies, admin bodies). */
export const NESTED_TOO_DEEP = `nested deeper than ${MAX_DOCUMENT_DEPTH} levels`;

/** The reason a stored value nested too deeply is not a document (both stores, the loader). */
export const TOO_DEEP_REASON = `value is ${NESTED_TOO_DEEP}`;

/**
 * Whether `v` nests objects / arrays `max` containers deep or more below the root (the root is
 * level 0). The recursion is bounded by `max`, and indexed and `for…in` loops allocate nothing:
 * the proxy runs it on every request body (`Object.values` measured 8x slower: 38 against 4.6 µs
 * on a 28 KB conversation, whose JSON.parse takes 110).
 */
export function nestedTooDeep(v: unknown, max: number = MAX_DOCUMENT_DEPTH, depth = 0): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (depth >= max) return true;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x !== null && typeof x === 'object' && nestedTooDeep(x, max, depth + 1)) return true;
    }
    return false;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    const x = o[k];
    if (x !== null && typeof x === 'object' && nestedTooDeep(x, max, depth + 1)) return true;
  }
  return false;
}

function escapeStep(step: string): string {
  return step.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * The JSON pointer of the first object or array nested `max` containers deep (the root is level
 * 0), or undefined. The common answer (not too deep) costs one `nestedTooDeep`; the pointer is
 * built only for a document that is, by a walk bounded by `max` like it.
 */
export function pointerBeyondDepth(doc: unknown, max: number = MAX_DOCUMENT_DEPTH): string | undefined {
  if (!nestedTooDeep(doc, max)) return undefined;
  const find = (v: unknown, pointer: string, depth: number): string | undefined => {
    if (typeof v !== 'object' || v === null) return undefined;
    if (depth >= max) return pointer;
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const x = o[k];
      if (x !== null && typeof x === 'object' && nestedTooDeep(x, max, depth + 1))
        return find(x, `${pointer}/${escapeStep(k)}`, depth + 1);
    }
    return undefined;
  };
  return find(doc, '', 0);
}
