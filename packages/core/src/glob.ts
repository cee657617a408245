/**
 * The one glob rule of the contract (allowed models/tools/agents, wildcard model aliases):
 * a pattern with exactly one `*` matches when the candidate starts with the text before it
 * and ends with the text after it, without the two overlapping. A pattern with no `*` or
 * with several is compared as a plain string; there is no escaping and no `?`.
 */

function split(pattern: string): { head: string; tail: string } | null {
  const star = pattern.indexOf('*');
  if (star === -1 || pattern.indexOf('*', star + 1) !== -1) return null;
  return { head: pattern.slice(0, star), tail: pattern.slice(star + 1) };
}

export function globMatch(pattern: string, candidate: string): boolean {
  const parts = split(pattern);
  if (parts === null) return pattern === candidate;
  return (
    candidate.length >= parts.head.length + parts.tail.length &&
    candidate.startsWith(parts.head) &&
    candidate.endsWith(parts.tail)
  );
}

/**
 * The text the `*` stands for when `name` matches a single-`*` pattern (possibly empty);
 * null when the pattern is not a single-`*` glob or does not match.
 */
export function wildcardCapture(pattern: string, name: string): string | null {
  const parts = split(pattern);
  if (parts === null || !globMatch(pattern, name)) return null;
  return name.slice(parts.head.length, name.length - parts.tail.length);
}
