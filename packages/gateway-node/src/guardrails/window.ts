/**
 * Window hold-back (the moderation kinds' default): the answer is released while it streams, one
 * scanned window at a time. Content (all channels, in arrival order) is scanned in windows of
 * `windowSize` characters, each starting `overlap` characters before the end of the previous
 * one, so a phrase cut by a window boundary is seen whole by the next; the events whose content
 * lies in a window that scanned clean are released through the relay's writer (`attach`). At the
 * upstream's end the rest is scanned and released. A block sends the error frame after what
 * already left (drops the rest); a buffer over `maxBufferBytes` fails closed or, with fail_open,
 * goes live unscanned. Without a writer (a replayed cache entry) everything is released at the
 * end, like BufferFull.
 */
import type { StreamTap } from '../pipeline/scopes.js';
import type { Judgement } from './chain.js';
import { type Slot, slotText } from './extract.js';
import type { StreamScanOptions } from './holdback.js';
import { eventPieces, LineEnds, parseEvent, partialCount, splitEvents } from './sse-events.js';

export interface WindowOptions extends StreamScanOptions {
  readonly windowSize: number;
  readonly overlap: number;
}

export class WindowTap implements StreamTap {
  private pending = '';
  /** Held events, the content offset at their end and the bytes of content they carry. */
  private held: { readonly raw: string; readonly end: number; readonly bytes: number }[] = [];
  private text = '';
  /** Bytes of content held (the cap counts content, not event framing: data-plane §11.5). */
  private heldBytes = 0;
  private cleanTo = 0;
  private scanning: Promise<void> | undefined;
  private emit: ((text: string) => void) | undefined;
  private state: 'open' | 'live' | 'closed' = 'open';
  private readonly judgements: Judgement[] = [];
  private readonly lines = new LineEnds();

  constructor(private readonly o: WindowOptions) {}

  attach(emit: (text: string) => void): void {
    this.emit = emit;
  }

  push(raw: string): string {
    if (this.state === 'closed') return '';
    const text = this.lines.push(raw);
    if (text.length === 0) return '';
    if (this.state === 'live') return text;
    this.pending += text;
    const cut = this.pending.lastIndexOf('\n\n');
    if (cut !== -1) {
      for (const raw of splitEvents(this.pending.slice(0, cut + 2))) this.add(raw);
      this.pending = this.pending.slice(cut + 2);
    }
    // A partial event past 1 MiB counts against the cap (`partialCount`).
    if (this.heldBytes + partialCount(this.pending) > this.o.maxBufferBytes) return this.overflow();
    if (cut === -1) return '';
    this.pump();
    return '';
  }

  end(): string | Promise<string> {
    if (this.state !== 'open') return '';
    if (this.pending.length > 0) {
      for (const raw of splitEvents(this.pending)) this.add(raw);
      this.pending = '';
    }
    return this.settle();
  }

  /** Waits out the window scans in flight (one may start another), then finishes. */
  private settle(): string | Promise<string> {
    const s = this.scanning;
    return s === undefined ? this.finish() : s.then(() => this.settle());
  }

  private finish(): string | Promise<string> {
    if (this.state !== 'open') return '';
    const rest =
      this.text.length > this.cleanTo ? this.text.slice(Math.max(0, this.cleanTo - this.o.overlap)) : '';
    const last = (j: Judgement | undefined): string => {
      if (this.state !== 'open') return '';
      if (j !== undefined) this.judgements.push(j);
      this.o.judged(this.judgements);
      if (j?.block !== undefined) {
        this.state = 'closed';
        return this.o.blocked(j);
      }
      let out = '';
      for (const e of this.held) out += e.raw;
      this.held = [];
      this.state = 'closed';
      return out;
    };
    if (rest === '') return last(undefined);
    const j = this.o.judge(rest);
    return j instanceof Promise ? j.then(last) : last(j);
  }

  private add(raw: string): void {
    const { data } = parseEvent(raw);
    let bytes = 0;
    if (data !== undefined) {
      const wholes: Slot[] = [];
      for (const p of eventPieces(this.o.dialect, data, wholes)) {
        const t = slotText(p.slot);
        this.text += t;
        bytes += Buffer.byteLength(t);
      }
    }
    this.held.push({ raw, end: this.text.length, bytes });
    this.heldBytes += bytes;
  }

  /** Scans the next full window when a writer is attached and no scan is running. */
  private pump(): void {
    const emit = this.emit;
    if (emit === undefined || this.scanning !== undefined || this.state !== 'open') return;
    if (this.text.length - this.cleanTo < this.o.windowSize) return;
    const to = this.cleanTo + this.o.windowSize;
    const j = this.o.judge(this.text.slice(Math.max(0, this.cleanTo - this.o.overlap), to));
    const done = (v: Judgement): void => {
      this.scanning = undefined;
      if (this.state !== 'open') return;
      this.judgements.push(v);
      if (v.block !== undefined) {
        this.state = 'closed';
        this.o.judged(this.judgements);
        emit(this.o.blocked(v));
        return;
      }
      this.cleanTo = to;
      let out = '';
      while (this.held.length > 0 && (this.held[0] as { end: number }).end <= to) {
        const e = this.held.shift() as { raw: string; bytes: number };
        out += e.raw;
        this.heldBytes -= e.bytes;
      }
      if (out !== '') emit(out);
      this.pump();
    };
    if (j instanceof Promise) this.scanning = j.then(done);
    else done(j);
  }

  private overflow(): string {
    if (this.o.failOpen) {
      this.o.bypassed();
      this.state = 'live';
      let out = '';
      for (const e of this.held) out += e.raw;
      // The held start of the next event goes out too: the rest of it is forwarded as it comes.
      out += this.pending;
      this.held = [];
      this.pending = '';
      return out;
    }
    this.state = 'closed';
    return this.o.blocked(undefined);
  }
}
