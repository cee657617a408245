/**
 * The built-in PII detectors of the `pii` guardrail kind and their checksum rules.
 *
 * Each detector is a V8 regex written so it runs in linear time on any input: every pattern
 * starts at a token boundary (a lookbehind), so a long run of candidate characters is tried from
 * one position only, and every quantifier is bounded or followed by a character it cannot
 * consume. Operator-written patterns never run on V8's backtracking engine (see `compile.ts`).
 * A candidate the regex finds is kept only when its checksum holds (Luhn for bank cards, ISO
 * 7064 MOD 11-2 for Chinese ID cards, octet ranges for IPv4).
 *
 * Before its regex runs, each detector asks whether the text can hold a match at all: an `@` for
 * an email, a run of 11 digits for a mobile number, `eyJ` for a JWT... (`may`: a substring search
 * or a short regex test, ~20 µs over 60 KB where a detector's own pass takes ~50). Most prompts
 * and answers hold no PII, so most of the nine passes are skipped; the check is a necessary
 * condition of the pattern, never a guess (a randomised test compares every detector with and
 * without it).
 */

import { PII_DETECTORS } from '@aisix/core';

/** Core's list (what the Admin API accepts): a detector it accepts cannot be missing here. */
export const BUILTIN_DETECTORS = PII_DETECTORS;

export type BuiltinDetector = (typeof BUILTIN_DETECTORS)[number];

/** A span `[start, end)` of the scanned text. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/**
 * What the prefilter learns about one text, each fact on first use and once per text (several
 * detectors ask whether it holds a run of four digits). Regex tests, not a loop over the
 * characters: V8 scans for `\d{4}` several times faster than a charCodeAt loop.
 */
export class Traits {
  private run4: boolean | undefined;

  constructor(readonly text: string) {}

  /** Four digits in a row: every digit-based detector needs them. */
  digitRun4(): boolean {
    this.run4 ??= /\d{4}/.test(this.text);
    return this.run4;
  }
}

export const traitsOf = (text: string): Traits => new Traits(text);

/** Literal starts of the api_key alternatives (the pattern is case-sensitive). */
const API_KEY_HINT = /sk-|AKIA|gh[pousr]_|github_pat_|xox[abposr]-|AIza/;

interface Builtin {
  /** False when the text cannot hold a match (a necessary condition of `re`). */
  readonly may: (text: string, t: Traits) => boolean;
  readonly re: RegExp;
  readonly valid?: (match: string) => boolean;
  /** A finder other than "every regex match" (PEM blocks: BEGIN line to END line). */
  readonly find?: (re: RegExp, text: string) => Span[];
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';

const BUILTINS: Readonly<Record<BuiltinDetector, Builtin>> = {
  email: {
    may: (text) => text.includes('@'),
    re: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
  },
  china_mobile: {
    may: (text, t) => t.digitRun4() && /\d{11}/.test(text),
    re: /(?<!\d)1[3-9]\d{9}(?!\d)/g,
  },
  china_id_card: {
    may: (text, t) => t.digitRun4() && /\d{17}/.test(text),
    re: /(?<![\dXx])\d{17}[\dXx](?![\dXx])/g,
    valid: chinaIdChecksum,
  },
  bank_card: {
    // One run or groups: four digits in a row either way.
    may: (_, t) => t.digitRun4(),
    // Contiguous 13-19 digits, or 4-4-4-4(-1..3) / Amex 4-6-5 groups with one separator kind.
    re: /(?<![\d-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{5})(?![\d])/g,
    valid: (m) => luhn(m.replace(/[ -]/g, '')),
  },
  us_ssn: {
    may: (text, t) => t.digitRun4() && /\d-\d/.test(text),
    re: /(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d]|-\d)/g,
  },
  ip_address: {
    may: (text) => /\d\.\d/.test(text),
    re: new RegExp(`(?<![\\d.])(?:${OCTET}\\.){3}${OCTET}(?!\\d|\\.\\d)`, 'g'),
  },
  api_key: {
    may: (text) => API_KEY_HINT.test(text),
    re: /(?<![A-Za-z0-9_-])(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,256}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}|xox[abposr]-[A-Za-z0-9-]{10,255}|AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])/g,
  },
  jwt: {
    may: (text) => text.includes('eyJ'),
    re: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,8192}\.eyJ[A-Za-z0-9_-]{5,8192}\.[A-Za-z0-9_-]{0,8192}(?![A-Za-z0-9_-])/g,
  },
  private_key: {
    may: (text) => text.includes('PRIVATE KEY-----'),
    re: /-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY-----/g,
    find: pemBlocks,
  },
};

/** Luhn (mod 10) over a string of digits. */
export function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK = '10X98765432';

/** GB 11643 (ISO 7064 MOD 11-2) check character of an 18-character resident ID. */
export function chinaIdChecksum(id: string): boolean {
  if (id.length !== 18) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (id.charCodeAt(i) - 48) * (ID_WEIGHTS[i] as number);
  return ID_CHECK[sum % 11] === id[17]?.toUpperCase();
}

const NONE: readonly Span[] = Object.freeze([]);

/**
 * Every valid match of a built-in detector in `text`, in order. `traits`: the text's, when the
 * caller runs several detectors over it (computed here otherwise); `null` skips the prefilter.
 */
export function findBuiltin(d: BuiltinDetector, text: string, traits?: Traits | null): readonly Span[] {
  const b = BUILTINS[d];
  if (traits !== null && !b.may(text, traits ?? traitsOf(text))) return NONE;
  const re = b.re;
  re.lastIndex = 0;
  if (b.find !== undefined) return b.find(re, text);
  const out: Span[] = [];
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (b.valid === undefined || b.valid(m[0])) out.push({ start: m.index, end: m.index + m[0].length });
  }
  return out;
}

const PEM_END = /-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY-----/g;

/**
 * BEGIN ... PRIVATE KEY----- through the next END line. One forward pass: once no END line is
 * left, no later BEGIN can close, so the search stops (no quadratic rescans).
 */
function pemBlocks(begin: RegExp, text: string): Span[] {
  const out: Span[] = [];
  for (let m = begin.exec(text); m !== null; m = begin.exec(text)) {
    PEM_END.lastIndex = m.index + m[0].length;
    const e = PEM_END.exec(text);
    if (e === null) break;
    out.push({ start: m.index, end: e.index + e[0].length });
    begin.lastIndex = e.index + e[0].length;
  }
  return out;
}

/** `[<NAME>_REDACTED]`: the name upper-cased, anything not alphanumeric as `_`. */
export function redactionToken(name: string): string {
  return `[${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_REDACTED]`;
}
