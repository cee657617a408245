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
 * incomplete tail of a chunk, and keeps the chunks of a line still open as they came, joined once
 * when the line ends: a long event costs one pass however many chunks carry it. An event (its
 * open line and the data lines before it) past `MAX_EVENT_BYTES` sets `overflow` and the decoder
 * stops: the stream has failed (a broken upstream never grows the gateway's memory unbounded).
 *
 * Fast path (the common `\n`-only framing): the complete events of a chunk are decoded with one
 * `toString` and split with string `indexOf`; the byte-level line parser handles `\r` framing and
 * takes over whenever it holds a partial event.
 */

export type SseHandler = (data: string, event: string | undefined) => void;

const LF = 0x0a;
const CR = 0x0d;

/** One event's bound: room for inline images and long tool arguments, far below a heap. */
export const MAX_EVENT_BYTES = 32 * 1024 * 1024;
/** The stream failure of a decoder whose `overflow` is set. */
export const EVENT_TOO_LONG = 'an upstream stream event exceeds 32 MiB';
/** The longest unfinished event the fast path keeps whole (see `fast`). */
const FAST_TAIL_BYTES = 64 * 1024;

export class SseDecoder {
  /** The event grew past `MAX_EVENT_BYTES`: nothing more is decoded. */
  overflow = false;
  private tail: Buffer | undefined;
  /** Chunks that only continue the open line in `tail`, not yet joined to it. */
  private more: Buffer[] | undefined;
  private moreBytes = 0;
  private data: string | undefined;
  private event: string | undefined;
  /** The previous chunk ended in `\r`: a leading `\n` of the next one belongs to it. */
  private skipLf = false;

  /** True when no partial line or event is pending (the next chunk starts a fresh event). */
  get idle(): boolean {
    return this.tail === undefined && !this.skipLf && this.data === undefined && this.event === undefined;
  }

  push(chunk: Buffer, onEvent: SseHandler): void {
    if (this.overflow) return;
    let buf = chunk;
    if (this.tail) {
      // A chunk without a line break only continues the open line: kept, not copied again.
      if (chunk.indexOf(LF) === -1 && chunk.indexOf(CR) === -1) {
        this.keep(chunk);
        return;
      }
      buf = this.joinTail(chunk);
    }
    if (!this.skipLf && this.data === undefined && this.event === undefined && buf.indexOf(CR) === -1) {
      this.fast(buf, onEvent);
      return;
    }
    this.lines(buf, onEvent);
  }

  private keep(chunk: Buffer): void {
    const tail = this.tail as Buffer;
    if (this.more === undefined) this.more = [];
    this.more.push(Buffer.from(chunk));
    this.moreBytes += chunk.length;
    this.bound(tail.length + this.moreBytes);
  }

  /** The open line, whole, followed by `chunk` (if given). */
  private joinTail(chunk: Buffer | undefined): Buffer {
    const tail = this.tail as Buffer;
    this.tail = undefined;
    const more = this.more;
    if (more === undefined) return chunk === undefined ? tail : Buffer.concat([tail, chunk]);
    this.more = undefined;
    const size = tail.length + this.moreBytes + (chunk?.length ?? 0);
    this.moreBytes = 0;
    more.unshift(tail);
    if (chunk !== undefined) more.push(chunk);
    return Buffer.concat(more, size);
  }

  /** Trips `overflow` when the event being decoded holds more than `MAX_EVENT_BYTES`. */
  private bound(openBytes: number): void {
    if (openBytes + (this.data?.length ?? 0) <= MAX_EVENT_BYTES) return;
    this.overflow = true;
    this.tail = undefined;
    this.more = undefined;
    this.data = undefined;
    this.event = undefined;
  }

  /** `\n`-only framing, no partial event pending: decode all complete events at once. */
  private fast(buf: Buffer, onEvent: SseHandler): void {
    const last = buf.lastIndexOf('\n\n');
    if (last === -1) {
      // No event ends here. A short rest waits whole, to be decoded with the next chunk's events
      // in one pass; a long one has its complete lines taken now, so only its open line waits
      // (rejoining a growing event on every chunk would be quadratic).
      if (buf.length > FAST_TAIL_BYTES) this.lines(buf, onEvent);
      else this.tail = Buffer.from(buf);
      return;
    }
    // The boundary is ASCII, so no multi-byte character is cut by this decode.
    const text = buf.toString('utf8', 0, last);
    if (last + 2 < buf.length) this.tail = Buffer.from(buf.subarray(last + 2));
    let pos = 0;
    const len = text.length;
    while (pos <= len) {
      let end = text.indexOf('\n\n', pos);
      if (end === -1) end = len;
      if (end > pos) this.textEvent(text, pos, end, onEvent);
      pos = end + 2;
    }
  }

  /** One complete event given as text (no `\r`). */
  private textEvent(text: string, start: number, end: number, onEvent: SseHandler): void {
    decodeTextEvent(text, start, end, onEvent);
  }

  private lines(buf: Buffer, onEvent: SseHandler): void {
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
        this.bound(this.tail.length);
        return;
      } else {
        next = nl + 1;
      }
      this.line(buf, pos, nl, onEvent);
      if (this.overflow) return;
      pos = next;
    }
  }

  /** Upstream EOF: the last line and event count even without their terminators. */
  end(onEvent: SseHandler): void {
    if (this.overflow) return;
    // The fast path keeps whole unfinished events as tail: split their complete lines first.
    const pending = this.takeTail();
    if (pending) this.lines(pending, onEvent);
    const last = this.takeTail();
    if (last) this.line(last, 0, last.length, onEvent);
    this.dispatch(onEvent);
  }

  private takeTail(): Buffer | undefined {
    return this.tail === undefined ? undefined : this.joinTail(undefined);
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
      buf[start + 1] === 0x61 &&
      buf[start + 2] === 0x74 &&
      buf[start + 3] === 0x61 &&
      buf[start + 4] === 0x3a
    ) {
      let v = start + 5;
      if (v < end && buf[v] === 0x20) v++;
      const value = buf.toString('utf8', v, end);
      this.data = this.data === undefined ? value : `${this.data}\n${value}`;
      if (this.data.length > MAX_EVENT_BYTES) this.bound(0);
    } else if (
      end - start >= 6 &&
      buf[start] === 0x65 &&
      buf[start + 5] === 0x3a &&
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

/**
 * Decodes one complete event given as text (no `\r`): the span `[start, end)` of `text`, without
 * its terminating blank line. Used by the decoder's fast path and by relays that split `\n`-only
 * text themselves.
 */
export function decodeTextEvent(text: string, start: number, end: number, onEvent: SseHandler): void {
  const nl = text.indexOf('\n', start);
  if ((nl === -1 || nl >= end) && text.startsWith('data:', start)) {
    const v = text.charCodeAt(start + 5) === 0x20 ? start + 6 : start + 5;
    onEvent(text.slice(v, end), undefined);
    return;
  }
  let data: string | undefined;
  let event: string | undefined;
  let ls = start;
  while (ls < end) {
    let le = text.indexOf('\n', ls);
    if (le === -1 || le > end) le = end;
    if (text.startsWith('data:', ls)) {
      const v = text.charCodeAt(ls + 5) === 0x20 ? ls + 6 : ls + 5;
      const value = text.slice(Math.min(v, le), le);
      data = data === undefined ? value : `${data}\n${value}`;
    } else if (text.startsWith('event:', ls)) {
      const v = text.charCodeAt(ls + 6) === 0x20 ? ls + 7 : ls + 6;
      event = text.slice(Math.min(v, le), le);
    }
    ls = le + 1;
  }
  if (data !== undefined) onEvent(data, event);
}
