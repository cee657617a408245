/**
 * An incremental SSE decoder for the A2A stream relay (agents-and-jobs §3.5): fed decoded text
 * chunk by chunk, it hands over each event's data as soon as the blank line that ends it
 * arrives. `data:` lines of one event are joined with `\n` as the SSE standard says (the
 * reference relays each line alone: AJ-8, decided in docs/decisions.md); `event:`, `id:`,
 * `retry:` and comments are ignored. Line endings `\n`, `\r\n` and `\r` are accepted.
 */

/** The cap on one line and on one event's data (16 MiB of text). */
export const MAX_EVENT_CHARS = 16 * 1024 * 1024;

export class SseDecoder {
  /**
   * The incomplete last line, in the pieces it arrived in: joined once, when its line break
   * comes, so a long line costs one pass however many chunks carry it.
   */
  private partial: string[] = [];
  private partialChars = 0;
  /** The previous chunk ended with `\r`: a `\n` opening the next one completes that break. */
  private afterCr = false;
  private data: string[] | undefined;
  private dataChars = 0;

  /**
   * Feeds `text`; calls `emit` per complete event. Returns an error message when the input
   * breaks the caps (the stream must then end), else undefined.
   */
  push(text: string, emit: (data: string) => void): string | undefined {
    let start = 0;
    if (this.afterCr) {
      this.afterCr = false;
      if (text.charCodeAt(0) === 10) start = 1;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const err = this.line(this.complete(text.slice(start, i)), emit);
      if (err !== undefined) return err;
      if (c === 13) {
        if (i + 1 === text.length) this.afterCr = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    if (start < text.length) {
      this.partial.push(start === 0 ? text : text.slice(start));
      this.partialChars += text.length - start;
      if (this.partialChars > MAX_EVENT_CHARS) return 'an upstream event line exceeds 16 MiB';
    }
    return undefined;
  }

  /** The end of the upstream stream: an event still open is delivered. */
  end(emit: (data: string) => void): string | undefined {
    this.afterCr = false;
    if (this.partial.length > 0) {
      const err = this.line(this.complete(''), emit);
      if (err !== undefined) return err;
    }
    return this.line('', emit);
  }

  /** The whole line whose last piece is `tail`. */
  private complete(tail: string): string {
    if (this.partial.length === 0) return tail;
    this.partial.push(tail);
    const line = this.partial.join('');
    this.partial = [];
    this.partialChars = 0;
    return line;
  }

  private line(line: string, emit: (data: string) => void): string | undefined {
    if (line === '') {
      if (this.data !== undefined) {
        const d = this.data.length === 1 ? (this.data[0] as string) : this.data.join('\n');
        this.data = undefined;
        this.dataChars = 0;
        emit(d);
      }
      return undefined;
    }
    if (!line.startsWith('data')) return undefined;
    let value: string;
    if (line.length === 4) value = '';
    else if (line.charCodeAt(4) === 58 /* : */)
      value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    else return undefined; // another field whose name starts with "data"
    this.dataChars += value.length;
    if (this.dataChars > MAX_EVENT_CHARS) return 'an upstream event exceeds 16 MiB';
    if (this.data === undefined) this.data = [value];
    else this.data.push(value);
    return undefined;
  }
}
