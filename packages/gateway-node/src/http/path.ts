/** Path pieces of proxy routes. */

/** A path segment percent-decoded; undefined when its escapes are not UTF-8 (`%ff`). */
export function decodePathSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
