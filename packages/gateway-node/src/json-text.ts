/** What JSON.stringify would escape in a string: quote, backslash, controls, lone surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `JSON.stringify(v)` for a string, taking the short way when nothing needs escaping (the usual
 * ids, names and models of hand-rendered log lines and spans).
 */
export function jsonQuote(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}
