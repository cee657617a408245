/**
 * `estimateTokens`: a cheap, deliberately upper-ish guess of what a request will cost, held as
 * the tpm/tpd reservation while it runs. Without it, N concurrent requests all see the same
 * committed total and can overshoot a token limit by N responses; with it the overshoot is
 * bounded by about one request.
 *
 * Prompt ≈ ceil(UTF-8 bytes of the text / 4) (bytes, not characters: CJK text costs more
 * tokens per character, and bytes/4 stays on the high side for it), counting message content
 * strings and text parts, tool-call arguments, `system`, `instructions`, `input`, `prompt` and
 * tool definitions. Images, audio and files are not counted (their base64 would dwarf the real
 * cost). Completion = the budget the caller declared (`max_tokens`, `max_completion_tokens`,
 * `max_output_tokens`), else 0. The scan stops after 1 MiB of text so a huge body costs a
 * bounded amount of CPU; no JSON.stringify of the body.
 */

const SCAN_CAP_BYTES = 1024 * 1024;

/** Running byte count of the scanned text, capped. */
class Scan {
  bytes = 0;
  get full(): boolean {
    return this.bytes >= SCAN_CAP_BYTES;
  }
  text(s: string): void {
    if (this.full) return;
    // Native and exact, and it does not copy the string.
    this.bytes += Buffer.byteLength(s, 'utf8');
  }
}

/** Text-bearing content: a string, or parts whose `text` (any text-like part type) counts. */
function content(scan: Scan, c: unknown): void {
  if (typeof c === 'string') {
    scan.text(c);
    return;
  }
  if (!Array.isArray(c)) return;
  for (const part of c) {
    if (scan.full) return;
    if (typeof part === 'string') scan.text(part);
    else if (typeof part === 'object' && part !== null) {
      const p = part as Record<string, unknown>;
      if (typeof p.text === 'string') scan.text(p.text);
      // Anthropic tool_result blocks nest content; tool_use carries `input` as an object.
      if (p.content !== undefined) content(scan, p.content);
      if (typeof p.input === 'object' && p.input !== null) anyValue(scan, p.input, 0);
    }
  }
}

/** Every string and key inside a JSON value (tool schemas, tool-call inputs), depth-bounded. */
function anyValue(scan: Scan, v: unknown, depth: number): void {
  if (scan.full || depth > 32) return;
  if (typeof v === 'string') scan.text(v);
  else if (typeof v === 'number' || typeof v === 'boolean') scan.bytes += 4;
  else if (Array.isArray(v)) for (const x of v) anyValue(scan, x, depth + 1);
  else if (typeof v === 'object' && v !== null) {
    for (const k in v) {
      scan.text(k);
      anyValue(scan, (v as Record<string, unknown>)[k], depth + 1);
    }
  }
}

function messages(scan: Scan, list: unknown): void {
  if (!Array.isArray(list)) return;
  for (const m of list) {
    if (scan.full) return;
    if (typeof m !== 'object' || m === null) continue;
    const msg = m as Record<string, unknown>;
    content(scan, msg.content);
    if (typeof msg.name === 'string') scan.text(msg.name);
    if (Array.isArray(msg.tool_calls)) {
      for (const tc of msg.tool_calls) {
        const fn = (tc as { function?: { name?: unknown; arguments?: unknown } } | null)?.function;
        if (typeof fn?.name === 'string') scan.text(fn.name);
        if (typeof fn?.arguments === 'string') scan.text(fn.arguments);
      }
    }
  }
}

/** Responses API `input`: a string or items with `content` (strings or parts). */
function input(scan: Scan, v: unknown): void {
  if (typeof v === 'string') {
    scan.text(v);
    return;
  }
  if (!Array.isArray(v)) return;
  for (const item of v) {
    if (scan.full) return;
    if (typeof item === 'string') scan.text(item);
    else if (typeof item === 'object' && item !== null) {
      const it = item as Record<string, unknown>;
      content(scan, it.content);
      if (typeof it.text === 'string') scan.text(it.text);
      if (typeof it.arguments === 'string') scan.text(it.arguments);
      if (typeof it.output === 'string') scan.text(it.output);
    }
    // Arrays of token ids (embeddings) are counted one token each, below.
  }
}

/** Embeddings/completions accept token-id arrays: they are exact token counts already. */
function tokenIds(v: unknown): number {
  if (!Array.isArray(v) || v.length === 0) return 0;
  if (typeof v[0] === 'number') return v.length;
  let n = 0;
  for (const x of v) if (Array.isArray(x) && typeof x[0] === 'number') n += x.length;
  return n;
}

function budget(body: Record<string, unknown>): number {
  for (const f of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) {
    const v = body[f];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return Math.floor(v);
  }
  return 0;
}

/** Estimated tokens (prompt + declared completion budget) of a request body for `endpoint`. */
export function estimateTokens(endpoint: string, body: Record<string, unknown>): number {
  const scan = new Scan();
  messages(scan, body.messages);
  content(scan, body.system);
  if (typeof body.instructions === 'string') scan.text(body.instructions);
  input(scan, body.input);
  if (typeof body.prompt === 'string') scan.text(body.prompt);
  else if (Array.isArray(body.prompt)) for (const p of body.prompt) if (typeof p === 'string') scan.text(p);
  if (Array.isArray(body.tools)) anyValue(scan, body.tools, 0);
  if (typeof body.functions === 'object' && body.functions !== null) anyValue(scan, body.functions, 0);
  const bytes = Math.min(scan.bytes, SCAN_CAP_BYTES);
  const prompt = Math.ceil(bytes / 4) + tokenIds(body.input) + tokenIds(body.prompt);
  // Embeddings produce no completion tokens whatever the body says.
  return endpoint === 'embeddings' ? prompt : prompt + budget(body);
}
