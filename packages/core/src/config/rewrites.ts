/**
 * `proxy.url_rewrites` rules: compiling the `match` regex and checking the `rewrite`
 * template, shared by config validation and (through the exports) by the proxy that applies
 * the rules, so both read a pattern the same way. Rust-style named groups `(?P<n>…)` are
 * accepted and translated, since existing configs were written for the Rust reference.
 */
import type { UrlRewriteRule } from './types.js';

/** Compiles a rule's `match` (no flags: the raw percent-encoded path is ASCII). Throws on a
 * syntax error. */
export function compileRewriteRegex(match: string): RegExp {
  return new RegExp(match.replace(/\(\?P</g, '(?<'));
}

export type RewritePart = { lit: string } | { group: string };

/** Splits a rewrite template into literals and group references: `$1`, `$name` (greedy over
 * `[0-9A-Za-z_]`, so `$1x` names group `1x`), `${name}`, `$$` (a literal `$`). A `$` that
 * starts no reference stays literal. */
export function parseRewriteTemplate(rewrite: string): RewritePart[] {
  const parts: RewritePart[] = [];
  let lit = '';
  let i = 0;
  while (i < rewrite.length) {
    const c = rewrite[i];
    if (c !== '$') {
      lit += c;
      i++;
      continue;
    }
    const next = rewrite[i + 1];
    if (next === '$') {
      lit += '$';
      i += 2;
      continue;
    }
    let name: string | null = null;
    let end = i + 1;
    if (next === '{') {
      const close = rewrite.indexOf('}', i + 2);
      const inner = close < 0 ? '' : rewrite.slice(i + 2, close);
      if (close >= 0 && /^[0-9A-Za-z_]+$/.test(inner)) {
        name = inner;
        end = close + 1;
      }
    } else {
      const m = /^[0-9A-Za-z_]+/.exec(rewrite.slice(i + 1));
      if (m) {
        name = m[0];
        end = i + 1 + name.length;
      }
    }
    if (name === null) {
      lit += '$';
      i++;
      continue;
    }
    if (lit !== '') parts.push({ lit });
    lit = '';
    parts.push({ group: name });
    i = end;
  }
  if (lit !== '') parts.push({ lit });
  return parts;
}

/** Returns null when the rule is valid, else the message (prefixed by the caller). */
export function checkRewriteRule(rule: UrlRewriteRule): string | null {
  let re: RegExp;
  try {
    re = compileRewriteRegex(rule.match);
  } catch (e) {
    return `invalid match regex: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (re.test('')) return 'match must not match the empty string';
  for (const ch of rule.rewrite) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '?' || ch === '#') return `rewrite must not contain '${ch}'`;
    if (/\s/.test(ch)) return 'rewrite must not contain whitespace';
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return 'rewrite must not contain control characters';
  }
  // Matching the empty alternative exposes the group count and every group name.
  const probe = new RegExp(`(?:${re.source})|`).exec('');
  const groupCount = probe ? probe.length - 1 : 0;
  const names = new Set(Object.keys(probe?.groups ?? {}));
  for (const part of parseRewriteTemplate(rule.rewrite)) {
    if (!('group' in part)) continue;
    const g = part.group;
    const known = /^\d+$/.test(g) ? Number(g) <= groupCount : names.has(g);
    if (!known) return `rewrite references unknown capture group $${g}`;
  }
  return null;
}
