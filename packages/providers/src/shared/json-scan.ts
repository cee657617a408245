/**
 * Cheap scans over serialized JSON objects, so the stream hot path can rewrite `model` and spot
 * usage or output without a parse + stringify of every chunk.
 *
 * They rely on one property of JSON text: inside a string value every `"` is escaped, so the
 * byte sequence `"model"` followed by optional whitespace and `:` can only be an object key.
 * OpenAI-family chunks put `model` before `choices`, so the first such key is the top-level one.
 */

function skipWs(s: string, i: number): number {
  let c = s.charCodeAt(i);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++i);
  return i;
}

/** Index just after `"key":` (whitespace skipped), or -1 when the key does not occur. */
export function findKeyValue(s: string, quotedKey: string, from = 0): number {
  let i = s.indexOf(quotedKey, from);
  while (i !== -1) {
    const j = skipWs(s, i + quotedKey.length);
    if (s.charCodeAt(j) === 0x3a) return skipWs(s, j + 1);
    i = s.indexOf(quotedKey, i + 1);
  }
  return -1;
}

/** End index (exclusive) of the JSON string literal starting at `start` (a `"`), or -1. */
function stringEnd(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i + 1;
  }
  return -1;
}

/**
 * Replaces the value of the first `"model"` key with `aliasLiteral` (the alias as a JSON string,
 * `JSON.stringify(alias)`). Returns the input unchanged when the key is already equal, and when
 * it is absent unless `stamp`: then the alias is added as the object's first member (an upstream
 * that leaves `model` out still answers with the caller's alias, data-plane §6.1, providers §1.3).
 */
export function rewriteModelField(s: string, aliasLiteral: string, stamp = false): string {
  const v = findKeyValue(s, '"model"');
  if (v === -1) return stamp ? stampModel(s, aliasLiteral) : s;
  let end: number;
  if (s.charCodeAt(v) === 0x22) {
    end = stringEnd(s, v);
    if (end === -1) return s;
    // Same value: nothing to do (compare without allocating when lengths differ).
    if (end - v === aliasLiteral.length && s.startsWith(aliasLiteral, v)) return s;
  } else if (s.startsWith('null', v)) {
    end = v + 4;
  } else {
    return s;
  }
  return s.slice(0, v) + aliasLiteral + s.slice(end);
}

/** `s` (an object's text without a `"model"` key) with `"model":<alias>` as its first member. */
function stampModel(s: string, aliasLiteral: string): string {
  const open = s.indexOf('{');
  if (open === -1) return s;
  let i = open + 1;
  let c = s.charCodeAt(i);
  while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = s.charCodeAt(++i);
  const sep = c === 0x7d ? '' : ','; // `{}` takes no comma
  return `${s.slice(0, open + 1)}"model":${aliasLiteral}${sep}${s.slice(open + 1)}`;
}

/**
 * True when the first `"model"` key of an object's text (the one `rewriteModelField` rewrites)
 * is a member of the top-level object: no `{` or `[` opens between the first brace and it.
 * Conservative: a bracket inside an earlier string value also answers false.
 */
export function modelKeyAtTop(s: string): boolean {
  const v = findKeyValue(s, '"model"');
  if (v === -1) return false;
  const open = s.indexOf('{');
  const brace = s.indexOf('{', open + 1);
  const bracket = s.indexOf('[', open + 1);
  return (brace === -1 || brace > v) && (bracket === -1 || bracket > v);
}

/** True when `"key":` is followed by a non-empty string, or (for arrays) a non-empty array. */
export function hasNonEmptyValue(s: string, quotedKey: string): boolean {
  let from = 0;
  for (;;) {
    const v = findKeyValue(s, quotedKey, from);
    if (v === -1) return false;
    const c = s.charCodeAt(v);
    if (c === 0x22 && s.charCodeAt(v + 1) !== 0x22) return true;
    if (c === 0x5b && s.charCodeAt(skipWs(s, v + 1)) !== 0x5d) return true;
    from = v;
  }
}

/** True when the text has a `"usage"` key whose value is an object (not null). */
export function hasUsageObject(s: string): boolean {
  const v = findKeyValue(s, '"usage"');
  return v !== -1 && s.charCodeAt(v) === 0x7b;
}

/** True when the text is a JSON object whose first key is `"error"`. */
export function startsWithErrorKey(s: string): boolean {
  const i = skipWs(s, 0);
  if (s.charCodeAt(i) !== 0x7b) return false;
  const j = skipWs(s, i + 1);
  return s.startsWith('"error"', j);
}

/** First non-whitespace character code (NaN for an empty string). */
export function firstCharCode(s: string): number {
  return s.charCodeAt(skipWs(s, 0));
}
