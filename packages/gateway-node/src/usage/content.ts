/**
 * Full-content capture for the exporters that opt into it (`content_mode: full`, data-plane
 * §12.3-12.4): the prompt the upstream received and the completion the caller received, each
 * cut at the exporter's `content_max_bytes` (UTF-8, on a character boundary). Built only while
 * such an exporter is live, never for a 401/403 (the caller was not who it claimed to be).
 *
 * "Received" matters: input guardrails already replaced the body the upstream saw (`ctx.body`),
 * and a stream's output taps (guardrail masking) wrote `ctx.sseServed`, so masked text is what
 * leaves the gateway here too; the raw upstream text (`ctx.sseOut`) is used only when no tap ran.
 */
import type { RequestContext } from '../pipeline/context.js';
import { jsonOutputText, sseOutputText } from './estimate.js';
import type { UsageEvent } from './events.js';
import type { UsageContent } from './records.js';

export type { UsageContent } from './records.js';

/** `s` cut to at most `maxBytes` of UTF-8, never inside a character (or a surrogate pair). */
export function capUtf8(s: string, maxBytes: number): string {
  // Fast path: even at 3 bytes per UTF-16 unit it fits.
  if (s.length * 3 <= maxBytes) return s;
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let bytes = 0;
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    let n: number;
    let units = 1;
    if (c < 0x80) n = 1;
    else if (c < 0x800) n = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n = 4;
        units = 2;
      } else n = 3;
    } else n = 3;
    if (bytes + n > maxBytes) break;
    bytes += n;
    i += units;
  }
  return s.slice(0, i);
}

const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * The conversational part of a request body as JSON text: chat and Anthropic `messages` (with
 * an Anthropic `system` first), Responses/embeddings `input`, completions `prompt`; a bare
 * string input stays plain text. Parameters (temperature, tools...) are not content.
 */
export function promptText(body: Readonly<Record<string, unknown>> | undefined): string {
  if (body === undefined) return '';
  const messages = body.messages;
  if (Array.isArray(messages)) {
    const system = body.system;
    return JSON.stringify(
      system === undefined ? messages : [{ role: 'system', content: system }, ...messages],
    );
  }
  if (body.input !== undefined) {
    const instructions = body.instructions;
    return instructions === undefined
      ? str(body.input)
      : JSON.stringify([{ role: 'system', content: instructions }, body.input]);
  }
  if (body.prompt !== undefined) return str(body.prompt);
  return '';
}

/** The request's content, each side cut at `maxBytes`. */
export function captureContent(ctx: RequestContext, maxBytes: number): UsageContent {
  let completion = '';
  if (ctx.outputJson !== undefined) completion = jsonOutputText(ctx.outputJson, '\n');
  else {
    const sse = ctx.sseServed ?? ctx.sseOut;
    if (sse !== undefined) completion = sseOutputText(sse);
  }
  return { prompt: capUtf8(promptText(ctx.body), maxBytes), completion: capUtf8(completion, maxBytes) };
}

/**
 * The events a full-content sink ships: the request's last event (the attempt that served the
 * answer, or the terminal event) carries `prompt` and `completion`, cut at the sink's own cap.
 */
export function withContent(
  events: readonly UsageEvent[],
  content: UsageContent | undefined,
  maxBytes: number,
): readonly (UsageEvent & Partial<UsageContent>)[] {
  const n = events.length;
  if (content === undefined || maxBytes <= 0 || n === 0) return events;
  const out: (UsageEvent & Partial<UsageContent>)[] = events.slice(0, n - 1);
  out.push({
    ...(events[n - 1] as UsageEvent),
    prompt: capUtf8(content.prompt, maxBytes),
    completion: capUtf8(content.completion, maxBytes),
  });
  return out;
}
