/**
 * Incremental Server-Sent-Events decoder over raw Buffer chunks.
 *
 * Lines may end in `\n`, `\r\n` or a lone `\r` (so events split on `\n\n`, `\r\n\r\n` and
 * `\r\r`, decision OP-6), and a `\r\n` pair may straddle two chunks. Text is decoded per complete
 * line: line breaks are ASCII, so a multi-byte UTF-8 character split across TCP chunks is always
 * reassembled before decoding and never becomes U+FFFD.
 *
 * Only `data:` and `event:` fields are kept (`id:`, `retry:` and comments are ignored); a final
 * event without a trailing blank line is delivered by `end()`. The decoder copies only the
 * incomplete tail of a chunk; complete lines are decoded straight from the chunk.
 */

export type SseHandler = (data: string, event: string | undefined) => void;

const LF = 0x0a;
const CR = 0x0d;

export class SseDecoder {
  private tail: Buffer | undefined;
  private data: string | undefined;
  private event: string | undefined;
  /** The previous chunk ended in `\r`: a leading `\n` of the next one belongs to it. */
  private skipLf = false;

  push(chunk: Buffer, onEvent: SseHandler): void {
    let buf = chunk;
    if (this.tail) {
      buf = Buffer.concat([this.tail, chunk]);
      this.tail = undefined;
    }
    let pos = 0;
    const len = buf.length;
    if (this.skipLf) {
      this.skipLf = false;
      if (len > 0 && buf[0] === LF) pos = 1;
    }
    // Cached position of the next CR: most streams have none, so one scan answers every line.
    let nextCr = buf.indexOf(CR, pos);
    while (pos < len) {
      let nl = buf.indexOf(LF, pos);
      if (nextCr !== -1 && nextCr < pos) nextCr = buf.indexOf(CR, pos);
      let next: number;
      if (nextCr !== -1 && (nl === -1 || nextCr < nl)) {
        nl = nextCr;
        if (nl + 1 < len) next = buf[nl + 1] === LF ? nl + 2 : nl + 1;
        else {
          next = nl + 1;
          this.skipLf = true;
        }
      } else if (nl === -1) {
        this.tail = Buffer.from(buf.subarray(pos));
        return;
      } else {
        next = nl + 1;
      }
      this.line(buf, pos, nl, onEvent);
      pos = next;
    }
  }

  /** Upstream EOF: the last line and event count even without their terminators. */
  end(onEvent: SseHandler): void {
    if (this.tail) {
      const t = this.tail;
      this.tail = undefined;
      this.line(t, 0, t.length, onEvent);
    }
    this.dispatch(onEvent);
  }

  private line(buf: Buffer, start: number, end: number, onEvent: SseHandler): void {
    if (start === end) {
      this.dispatch(onEvent);
      return;
    }
    // "data:" = 64 61 74 61 3a, "event:" = 65 76 65 6e 74 3a
    if (
      end - start >= 5 &&
      buf[start] === 0x64 &&
      buf[start + 4] === 0x3a &&
      buf.toString('latin1', start, start + 4) === 'data'
    ) {
      let v = start + 5;
      if (v < end && buf[v] === 0x20) v++;
      const value = buf.toString('utf8', v, end);
      this.data = this.data === undefined ? value : `${this.data}\n${value}`;
    } else if (
      end - start >= 6 &&
      buf[start] === 0x65 &&
      buf.toString('latin1', start, start + 6) === 'event:'
    ) {
      let v = start + 6;
      if (v < end && buf[v] === 0x20) v++;
      this.event = buf.toString('utf8', v, end);
    }
  }

  private dispatch(onEvent: SseHandler): void {
    const data = this.data;
    const event = this.event;
    this.data = undefined;
    this.event = undefined;
    if (data !== undefined) onEvent(data, event);
  }
}
