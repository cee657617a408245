/**
 * Raw SSE passthrough with a side-channel parser, for native dialect streams (Anthropic in →
 * Anthropic upstream, Responses in → OpenAI Responses upstream).
 *
 * The caller gets the upstream's bytes event by event, untouched, except where the dialect's hook
 * returns a replacement (a `model` rewrite). Events are split on `\n\n`, `\r\n\r\n` and `\r\r`
 * (decision OP-6). Text is decoded with a streaming UTF-8 decoder, so a character split across
 * TCP chunks is never mangled.
 *
 * An unterminated event larger than 1 MiB stops the side-channel parsing (telemetry is lost for
 * the rest of the stream) but never the bytes: from then on everything is forwarded as it comes.
 */
import { StringDecoder } from 'node:string_decoder';

export const MAX_PARSE_BUFFER = 1024 * 1024;

/** Returns the text to forward for this event: `raw` itself, a replacement, or '' to drop it. */
export type RawEventHook = (raw: string, event: string | undefined, data: string | undefined) => string;

const SEPARATOR = /\r\n\r\n|\n\n|\r\r/g;

export class RawSseSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  /** Parsing gave up on an oversized event: plain byte relay from here on. */
  private raw = false;

  constructor(private readonly hook: RawEventHook) {}

  push(chunk: Buffer): string {
    const text = this.decoder.write(chunk);
    if (this.raw) return text;
    this.pending += text;
    let out = '';
    let start = 0;
    SEPARATOR.lastIndex = 0;
    for (let m = SEPARATOR.exec(this.pending); m; m = SEPARATOR.exec(this.pending)) {
      const end = m.index + m[0].length;
      out += this.event(this.pending.slice(start, end), m.index - start);
      start = end;
    }
    this.pending = this.pending.slice(start);
    // A `\r\n\r\n` may be cut after its first `\r\n\r`; that tail is still short.
    if (this.pending.length > MAX_PARSE_BUFFER) {
      this.raw = true;
      out += this.pending;
      this.pending = '';
    }
    return out;
  }

  /** Upstream EOF: a final event without its blank line still counts. */
  end(): string {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    if (this.raw || rest.length === 0) return rest;
    return this.event(rest, rest.length);
  }

  private event(raw: string, bodyLength: number): string {
    let event: string | undefined;
    let data: string | undefined;
    for (const line of raw.slice(0, bodyLength).split(/\r\n|\r|\n/)) {
      if (line.startsWith('data:')) {
        const v = line.charCodeAt(5) === 0x20 ? line.slice(6) : line.slice(5);
        data = data === undefined ? v : `${data}\n${v}`;
      } else if (line.startsWith('event:')) {
        event = (line.charCodeAt(6) === 0x20 ? line.slice(7) : line.slice(6)).trim();
      }
    }
    if (event === undefined && data === undefined) return raw;
    return this.hook(raw, event, data);
  }
}

/** Replaces the single-line `data` payload inside a raw event (keeps its framing bytes). */
export function replaceData(
  raw: string,
  event: string | undefined,
  oldData: string,
  newData: string,
): string {
  if (oldData === newData) return raw;
  const i = raw.indexOf(oldData);
  if (i === -1 || oldData.includes('\n')) return `${event ? `event: ${event}\n` : ''}data: ${newData}\n\n`;
  return raw.slice(0, i) + newData + raw.slice(i + oldData.length);
}
