/**
 * Output guardrails on a stream, as a tap on the caller-dialect SSE bytes (`pipeline/scopes.ts`).
 *
 * The chain's strictest policy decides how the stream is held:
 * - `buffer_full`: every event is held; at the upstream's end each channel's text (one per choice,
 *   content block or output item; tool-call arguments are channels too) is scanned whole, masks
 *   are written back into the held deltas (a span split across many chunks becomes one token in
 *   the chunk where it starts), and the events are released. A block releases only the error
 *   frame. Content beyond the buffer cap fails closed (error frame) or, with
 *   `on_buffer_exceeded: fail_open`, releases what is held unscanned and forwards the rest live.
 * - `end_of_stream`: events are forwarded live and scanned at the end (monitor-only chains:
 *   hits are recorded; a block could only append the error frame). Their text is kept up to the
 *   same buffer cap; past it nothing more is kept and nothing is scanned (`exceeded`), as a
 *   held stream is never scanned past its cap either.
 * If the upstream fails mid-stream the relay ends the response without calling `end`, so held
 * content is dropped (fail closed).
 */
import type { StreamTap } from '../pipeline/scopes.js';
import { applyMasks, type Judgement, maskPieces } from './chain.js';
import type { Dialect, Slot } from './extract.js';
import { setSlot, slotText } from './extract.js';
import {
  eventPieces,
  type HeldEvent,
  LineEnds,
  parseEvent,
  partialCount,
  render,
  splitEvents,
} from './sse-events.js';

interface Piece {
  readonly ev: HeldEvent;
  readonly slot: Slot;
}

/** What a guardrail's stream tap (held back whole, or scanned in windows) is given. */
export interface StreamScanOptions {
  readonly dialect: Dialect;
  readonly maxBufferBytes: number;
  readonly failOpen: boolean;
  /** Runs the chain over one channel's text (a promise when a remote guardrail is asked). */
  judge(text: string): Judgement | Promise<Judgement>;
  /** A block (or a fail-closed overflow): returns the error frame to send. */
  blocked(j: Judgement | undefined): string;
  /** The buffer overflowed with fail_open: the rest is not scanned. */
  bypassed(): void;
  /** Masks applied / monitor hits, once per stream. */
  judged(js: readonly Judgement[]): void;
}

export interface HoldbackOptions extends StreamScanOptions {
  readonly mode: 'buffer_full' | 'end_of_stream';
  /** `end_of_stream`: the text outgrew the buffer cap; what was kept is dropped, unscanned. */
  exceeded(): void;
}

export class HoldbackTap implements StreamTap {
  private pending = '';
  private readonly held: HeldEvent[] = [];
  private readonly channels = new Map<string, Piece[]>();
  /** Events whose whole text is repeated (Responses `.done` events): masked on their own. */
  private readonly wholes: Piece[] = [];
  private bytes = 0;
  /**
   * `hold`: events are held and their text kept; `live`: forwarded, text kept; `forward`:
   * forwarded, nothing kept (past the buffer cap); `closed`: nothing more is sent.
   */
  private state: 'hold' | 'live' | 'forward' | 'closed';
  private readonly lines = new LineEnds();

  constructor(private readonly o: HoldbackOptions) {
    this.state = o.mode === 'buffer_full' ? 'hold' : 'live';
  }

  push(raw: string): string {
    if (this.state === 'closed') return '';
    const text = this.lines.push(raw);
    if (text.length === 0) return '';
    if (this.state === 'forward') return text;
    this.pending += text;
    const cut = this.pending.lastIndexOf('\n\n');
    if (cut !== -1) {
      const complete = this.pending.slice(0, cut + 2);
      this.pending = this.pending.slice(cut + 2);
      for (const raw of splitEvents(complete)) this.add(raw);
    }
    // A partial event past 1 MiB counts against the cap (`partialCount`).
    const over = this.bytes + partialCount(this.pending) > this.o.maxBufferBytes;
    if (this.state === 'live') {
      if (over) this.stopKeeping();
      return text;
    }
    return over ? this.overflow() : '';
  }

  end(): string | Promise<string> {
    if (this.state === 'closed' || this.state === 'forward') return '';
    if (this.pending.length > 0) {
      for (const raw of splitEvents(this.pending)) this.add(raw);
      this.pending = '';
    }
    if (this.state === 'live' && this.bytes > this.o.maxBufferBytes) {
      this.stopKeeping();
      return '';
    }
    const channels = [...this.channels.values()].map((pieces) => {
      const texts = pieces.map((p) => slotText(p.slot));
      return { pieces, texts, text: texts.join('') };
    });
    const js = channels.map((c) => this.o.judge(c.text));
    if (js.some((j) => j instanceof Promise))
      return Promise.all(js).then((all) => this.release(channels, all));
    return this.release(channels, js as Judgement[]);
  }

  private release(
    channels: readonly { pieces: readonly Piece[]; texts: readonly string[]; text: string }[],
    js: readonly Judgement[],
  ): string {
    this.o.judged(js);
    const blocked = js.find((j) => j.block !== undefined);
    if (blocked !== undefined) {
      this.state = 'closed';
      return this.o.blocked(blocked);
    }
    if (this.state === 'live') return '';
    const byText = new Map<string, Judgement>();
    for (let c = 0; c < channels.length; c++) {
      const ch = channels[c] as (typeof channels)[number];
      const j = js[c] as Judgement;
      byText.set(ch.text, j);
      if (j.masks.length === 0) continue;
      const masked = maskPieces(ch.texts, 0, j.masks);
      for (let i = 0; i < ch.pieces.length; i++) {
        const p = ch.pieces[i] as Piece;
        if (masked[i] !== ch.texts[i]) {
          setSlot(p.slot, masked[i] as string);
          p.ev.dirty = true;
        }
      }
    }
    // Whole-text repeats (Responses `.done` events) carry a channel's full text: its masks apply.
    for (const p of this.wholes) {
      const t = slotText(p.slot);
      const j = byText.get(t);
      if (j === undefined) {
        // A repeat that matches no streamed text was never scanned: it is not released.
        if (t.length > 0) {
          setSlot(p.slot, '');
          p.ev.dirty = true;
        }
      } else if (j.masks.length > 0) {
        setSlot(p.slot, applyMasks(t, j.masks));
        p.ev.dirty = true;
      }
    }
    let out = '';
    for (const ev of this.held) out += ev.dirty ? render(ev) : ev.raw;
    return out;
  }

  private overflow(): string {
    if (this.o.failOpen) {
      this.o.bypassed();
      this.state = 'forward';
      let out = '';
      for (const ev of this.held) out += ev.raw;
      // The held start of the next event goes out too: the rest of it is forwarded as it comes.
      out += this.pending;
      this.drop();
      return out;
    }
    this.state = 'closed';
    return this.o.blocked(undefined);
  }

  /** `end_of_stream` past the cap: the rest is forwarded as it comes, nothing is kept. */
  private stopKeeping(): void {
    this.state = 'forward';
    this.drop();
    this.o.exceeded();
  }

  private drop(): void {
    this.held.length = 0;
    this.channels.clear();
    this.wholes.length = 0;
    this.pending = '';
  }

  private add(raw: string): void {
    const { event, data } = parseEvent(raw);
    const ev: HeldEvent = { raw, event, data, dirty: false };
    if (this.state === 'hold') this.held.push(ev);
    if (data === undefined) return;
    const wholes: Slot[] = [];
    for (const p of eventPieces(this.o.dialect, data, wholes)) {
      this.bytes += Buffer.byteLength(slotText(p.slot));
      const list = this.channels.get(p.channel);
      const piece = { ev, slot: p.slot };
      if (list === undefined) this.channels.set(p.channel, [piece]);
      else list.push(piece);
    }
    for (const slot of wholes) this.wholes.push({ ev, slot });
  }
}
