/**
 * The media type of a `data:` URL as the vendor wires want it: lower case, and `image/jpg` (which
 * OpenAI accepts and many clients write) as the registered `image/jpeg`. Anthropic and Gemini
 * validate the type against their list and refuse `image/jpg` with a 400.
 */
export function normalizeMediaType(type: string): string {
  const t = type.trim().toLowerCase();
  return t === 'image/jpg' ? 'image/jpeg' : t;
}
