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
  private buf = '';
  private data: string[] | undefined;
  private dataChars = 0;

  /**
   * Feeds `text`; calls `emit` per complete event. Returns an error message when the input
   * breaks the caps (the stream must then end), else undefined.
   */
  push(text: string, emit: (data: string) => void): string | undefined {
    this.buf = this.buf === '' ? text : this.buf + text;
    let start = 0;
    const buf = this.buf;
    for (;;) {
      let i = start;
      while (i < buf.length && buf.charCodeAt(i) !== 10 && buf.charCodeAt(i) !== 13) i++;
      if (i >= buf.length) break;
      // A `\r` at the very end may be the first half of `\r\n`: wait for the next chunk.
      if (buf.charCodeAt(i) === 13 && i === buf.length - 1) break;
      const err = this.line(buf.slice(start, i), emit);
      if (err !== undefined) return err;
      start = buf.charCodeAt(i) === 13 && buf.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
    }
    this.buf = start === 0 ? buf : buf.slice(start);
    if (this.buf.length > MAX_EVENT_CHARS) return 'an upstream event line exceeds 16 MiB';
    return undefined;
  }

  /** The end of the upstream stream: an event still open is delivered. */
  end(emit: (data: string) => void): string | undefined {
    if (this.buf !== '') {
      const err = this.line(this.buf.endsWith('\r') ? this.buf.slice(0, -1) : this.buf, emit);
      this.buf = '';
      if (err !== undefined) return err;
    }
    return this.line('', emit);
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
