/** What JSON.stringify would escape in a string: quote, backslash, controls, lone surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * `JSON.stringify(v)` for a string, taking the short way when nothing needs escaping (the usual
 * ids, names and models of hand-rendered log lines and spans).
 */
export function jsonQuote(v: string): string {
  return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
}

/** `.5`, `.25`, `.125`...: the fractional part of a value in thousandths, as the shortest decimal writes it. */
const THOUSANDTHS = Array.from({ length: 1000 }, (_, r) =>
  r === 0 ? '' : `.${String(r).padStart(3, '0').replace(/0+$/, '')}`,
);

/**
 * `JSON.stringify(v)` for a number (`null` when not finite). Latencies are whole microseconds
 * counted in milliseconds (three decimals): those are written from their integer parts, which
 * is what the shortest round-trip decimal of such a value is, at a sixth of the cost.
 */
export function jsonNumber(v: number): string {
  if (!Number.isFinite(v)) return 'null';
  const us = Math.round(v * 1000);
  if (us >= 0 && us <= 0x7fffffff && us / 1000 === v) {
    const whole = Math.floor(us / 1000);
    return `${whole}${THOUSANDTHS[us - whole * 1000]}`;
  }
  return `${v}`;
}
