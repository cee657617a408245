/**
 * `proxy.url_rewrites` rules: compiling the `match` regex and checking the `rewrite`
 * template, shared by config validation and (through the exports) by the proxy that applies
 * the rules, so both read a pattern the same way. Rust-style named groups `(?P<n>…)` are
 * accepted and translated, since existing configs were written for the Rust reference.
 */
import type { UrlRewriteRule } from './types.js';

/** Compiles a rule's `match`. Throws on a syntax error. The raw percent-encoded path is
 * ASCII, so no `u` flag. */
export function compileRewriteRegex(match: string): RegExp {
  const { source, flags } = translateRustRegex(match);
  return new RegExp(source, flags);
}

/**
 * Rust `regex` syntax that JS reads differently or not at all, translated so a rule written for
 * the reference means the same here: `(?P<n>…)` named groups, leading inline flags `(?ims)`
 * (JS flags; other flags are refused rather than ignored), and the whole-input anchors `\A` /
 * `\z` (in a JS regex those are the letters `A` / `z`, a silent mismatch). Escapes and
 * character classes are skipped, so `\\A` and `[(?P<]` stay literal.
 */
function translateRustRegex(match: string): { source: string; flags: string } {
  let flags = '';
  let i = 0;
  const leadingFlags = /^\(\?([a-zA-Z]+)\)/;
  for (let m = leadingFlags.exec(match); m !== null; m = leadingFlags.exec(match.slice(i))) {
    for (const f of m[1] ?? '') {
      if (f !== 'i' && f !== 'm' && f !== 's') throw new SyntaxError(`unsupported inline flag (?${f})`);
      if (!flags.includes(f)) flags += f;
    }
    i += m[0].length;
  }
  let out = '';
  let inClass = false;
  for (; i < match.length; i++) {
    const c = match[i];
    if (c === '\\') {
      const n = match[i + 1] ?? '';
      // lookarounds, not ^/$, so the `m` flag cannot turn them into line anchors
      if (!inClass && n === 'A') out += '(?<![\\s\\S])';
      else if (!inClass && n === 'z') out += '(?![\\s\\S])';
      else out += c + n;
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
      // a `]` right after `[` or `[^` is a literal member in Rust (an empty class in JS)
      if (match[i + 1] === '^') out += match[++i];
      if (match[i + 1] === ']') {
        out += '\\]';
        i++;
      }
    } else if (match.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else out += c;
  }
  return { source: out, flags };
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
