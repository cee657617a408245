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

/** The reason a stored value nested too deeply is not a document (both stores, the loader). */
export const TOO_DEEP_REASON = `value is nested deeper than ${MAX_DOCUMENT_DEPTH} levels`;

function escapeStep(step: string): string {
  return step.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * The JSON pointer of the first object or array nested deeper than `max` containers (the root
 * is level 0), or undefined. Iterative, so the check itself cannot overflow the stack.
 */
export function pointerBeyondDepth(doc: unknown, max: number = MAX_DOCUMENT_DEPTH): string | undefined {
  const stack: { value: unknown; pointer: string; depth: number }[] = [{ value: doc, pointer: '', depth: 0 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const { value, pointer, depth } = top;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= max) return pointer;
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, v] = entries[i] as readonly [string, unknown];
      if (typeof v === 'object' && v !== null)
        stack.push({ value: v, pointer: `${pointer}/${escapeStep(k)}`, depth: depth + 1 });
    }
  }
  return undefined;
}
