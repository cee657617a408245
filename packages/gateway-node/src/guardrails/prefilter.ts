/**
 * A cheap necessary condition for an operator regex to match: the literals any match must
 * contain, checked with `indexOf` before the regex engine runs. re2js is linear but slow in
 * JavaScript (~2 µs on a short prompt, ~0.5 ms on 11 KB); a prompt without the literals skips it
 * (~8 µs on 11 KB).
 *
 * The literal tree (AND / OR of exact strings) is re2js's own prefilter, the one it consults
 * before matching. re2js builds none for case-insensitive patterns, which is how operators write
 * keywords (`(?i)launch-code-[0-9]{4}`). For a pattern whose only flag is a leading `(?i)` the
 * tree of the rest is taken and compared case-insensitively: a case-insensitive match holds, at
 * each literal character, a member of that character's simple case-folding orbit. For ASCII
 * literals the orbits are the two cases plus U+212A KELVIN SIGN (k) and U+017F LONG S (s);
 * `toLowerCase` maps the first to `k` and the second is replaced by `s`, so the folded text
 * contains the lowercased literal whenever a match exists. Anything else (other flags, named
 * groups, non-ASCII literals, a tree of another shape) has no prefilter: the regex always runs.
 */
import { re2 } from '@aisix/core';

/** True when the text may match (the regex must run); false when it cannot. */
export type Prefilter = (text: string, folded: () => string) => boolean;

interface Node {
  readonly type: number;
  readonly subs: readonly Node[];
  readonly str: string;
}

const EXACT = 1;
const AND = 2;
const OR = 3;
const ASCII = /^[\x00-\x7f]*$/;

/** The literal tree re2js computed for `pattern`, if it has one of the known shape. */
function literalTree(pattern: string): Node | undefined {
  let tree: unknown;
  try {
    tree = (re2().compile(pattern) as unknown as { re2Input?: { prefilter?: unknown } }).re2Input?.prefilter;
  } catch {
    return undefined;
  }
  return wellFormed(tree) ? tree : undefined;
}

function wellFormed(n: unknown): n is Node {
  if (typeof n !== 'object' || n === null) return false;
  const { type, subs, str } = n as Partial<Node>;
  if (type === EXACT) return typeof str === 'string' && str !== '';
  if (type === AND || type === OR) return Array.isArray(subs) && subs.length > 0 && subs.every(wellFormed);
  return false;
}

/** An evaluator of `n`, literals lowercased when `fold`; undefined when it cannot be exact. */
function evaluator(n: Node, fold: boolean): Prefilter | undefined {
  if (n.type === EXACT) {
    if (!fold) return (text) => text.includes(n.str);
    if (!ASCII.test(n.str)) return undefined;
    const lower = n.str.toLowerCase();
    return (_text, folded) => folded().includes(lower);
  }
  const subs: Prefilter[] = [];
  for (const s of n.subs) {
    const e = evaluator(s, fold);
    if (e === undefined) return undefined;
    subs.push(e);
  }
  return n.type === AND
    ? (text, folded) => subs.every((e) => e(text, folded))
    : (text, folded) => subs.some((e) => e(text, folded));
}

/** The prefilter of one operator pattern (RE2 syntax), or undefined when there is none. */
export function patternPrefilter(pattern: string): Prefilter | undefined {
  const fold = pattern.startsWith('(?i)');
  const rest = fold ? pattern.slice(4) : pattern;
  // Any other `(?` (flags, named groups, an escaped `\(?`) ends the reasoning here.
  if (rest.replaceAll('(?:', '').includes('(?')) return undefined;
  const tree = literalTree(rest);
  return tree === undefined ? undefined : evaluator(tree, fold);
}

/** One prefilter for the alternation of `patterns`: undefined unless each has one. */
export function anyPrefilter(patterns: readonly string[]): Prefilter | undefined {
  const each: Prefilter[] = [];
  for (const p of patterns) {
    const e = patternPrefilter(p);
    if (e === undefined) return undefined;
    each.push(e);
  }
  return (text, folded) => each.some((e) => e(text, folded));
}

/**
 * The text as the folded literals are compared with, computed at most once per scan (from
 * `lower`, the text already lowercased by the caller, when it has it).
 */
export function foldedOnce(text: string, lower?: string): () => string {
  let f: string | undefined;
  return () => {
    f ??= (lower ?? text.toLowerCase()).replaceAll('\u017f', 's');
    return f;
  };
}
