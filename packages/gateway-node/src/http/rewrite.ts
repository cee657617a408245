/**
 * `proxy.url_rewrites` at runtime (data-plane §1.3 step 2, control-plane §1.5): ordered
 * `{name?, match, rewrite}` rules over the raw (percent-encoded) path, before routing. The first
 * rule whose `match` finds the path replaces that match (leftmost, once, like the reference's
 * `Regex::replace`) with the expanded template; later rules are not tried on the result; the
 * query string is kept as sent. Patterns and templates are read by core's
 * `compileRewriteRegex` / `parseRewriteTemplate`, the same functions config validation uses.
 *
 * Hot path: no rules = no rewriter at all (the handler checks one `undefined`).
 */
import { compileRewriteRegex, parseRewriteTemplate, type RewritePart } from '@aisix/core';

export interface UrlRewriteRuleInput {
  readonly name?: string | undefined;
  readonly match: string;
  readonly rewrite: string;
}

interface CompiledRule {
  readonly re: RegExp;
  readonly parts: readonly RewritePart[];
}

/** Rewrites a raw path; returns the same string when no rule matches. */
export type PathRewriter = (path: string) => string;

function expand(parts: readonly RewritePart[], m: RegExpExecArray): string {
  let out = '';
  for (const p of parts) {
    if ('lit' in p) out += p.lit;
    else if (/^\d+$/.test(p.group)) out += m[Number(p.group)] ?? '';
    else out += m.groups?.[p.group] ?? '';
  }
  return out;
}

/** Compiles the rules once; `undefined` when there are none. Throws on a rule config validation
 * would have refused (a caller that skipped validation), naming the rule. */
export function compileUrlRewrites(
  rules: readonly UrlRewriteRuleInput[] | undefined,
): PathRewriter | undefined {
  if (rules === undefined || rules.length === 0) return undefined;
  const compiled: CompiledRule[] = rules.map((r, i) => {
    try {
      return { re: compileRewriteRegex(r.match), parts: parseRewriteTemplate(r.rewrite) };
    } catch (e) {
      throw new Error(
        `${r.name ?? `proxy.url_rewrites[${i}]`}: invalid match regex: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  });
  return (path) => {
    for (const { re, parts } of compiled) {
      const m = re.exec(path);
      if (m === null) continue;
      return path.slice(0, m.index) + expand(parts, m) + path.slice(m.index + m[0].length);
    }
    return path;
  };
}
