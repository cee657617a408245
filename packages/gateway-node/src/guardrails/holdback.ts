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
 *   hits are recorded; a block could only append the error frame).
 * If the upstream fails mid-stream the relay ends the response without calling `end`, so held
 * content is dropped (fail closed).
 */
import type { StreamTap } from '../pipeline/scopes.js';
import { applyMasks, type Judgement, maskPieces } from './chain.js';
import { type Dialect, responseItem, type Slot, setSlot, slotText } from './extract.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

interface HeldEvent {
  /** The event as received (released as is unless a slot in it was masked). */
  readonly raw: string;
  readonly event: string | undefined;
  readonly data: Obj | undefined;
  dirty: boolean;
}

interface Piece {
  readonly ev: HeldEvent;
  readonly slot: Slot;
}

export interface HoldbackOptions {
  readonly dialect: Dialect;
  readonly mode: 'buffer_full' | 'end_of_stream';
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

export class HoldbackTap implements StreamTap {
  private pending = '';
  private readonly held: HeldEvent[] = [];
  private readonly channels = new Map<string, Piece[]>();
  /** Events whose whole text is repeated (Responses `.done` events): masked on their own. */
  private readonly wholes: Piece[] = [];
  private bytes = 0;
  private state: 'hold' | 'live' | 'closed';

  constructor(private readonly o: HoldbackOptions) {
    this.state = o.mode === 'buffer_full' ? 'hold' : 'live';
  }

  push(text: string): string {
    if (this.state === 'closed') return '';
    if (text.length === 0) return '';
    if (this.o.mode === 'buffer_full' && this.state === 'live') return text;
    this.pending += text;
    let cut = this.pending.lastIndexOf('\n\n');
    if (cut === -1) return this.state === 'live' ? text : '';
    cut += 2;
    const complete = this.pending.slice(0, cut);
    this.pending = this.pending.slice(cut);
    for (const raw of splitEvents(complete)) this.add(raw);
    if (this.state === 'live') return text;
    if (this.bytes > this.o.maxBufferBytes) return this.overflow();
    return '';
  }

  end(): string | Promise<string> {
    if (this.state === 'closed') return '';
    if (this.pending.length > 0) {
      for (const raw of splitEvents(this.pending)) this.add(raw);
      this.pending = '';
    }
    if (this.o.mode === 'buffer_full' && this.state === 'live') return '';
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
      this.state = 'live';
      let out = '';
      for (const ev of this.held) out += ev.raw;
      this.held.length = 0;
      this.channels.clear();
      this.wholes.length = 0;
      return out;
    }
    this.state = 'closed';
    return this.o.blocked(undefined);
  }

  private add(raw: string): void {
    const { event, data } = parseEvent(raw);
    const ev: HeldEvent = { raw, event, data, dirty: false };
    if (this.state === 'hold') this.held.push(ev);
    if (data === undefined) return;
    const d = this.o.dialect;
    if (d === 'openai') this.openai(ev, data);
    else if (d === 'anthropic') this.anthropic(ev, data);
    else this.responses(ev, data);
  }

  private piece(channel: string, ev: HeldEvent, o: Obj, k: string): void {
    const v = o[k];
    if (typeof v !== 'string' || v.length === 0) return;
    this.bytes += Buffer.byteLength(v);
    const list = this.channels.get(channel);
    const p = { ev, slot: { o, k } };
    if (list === undefined) this.channels.set(channel, [p]);
    else list.push(p);
  }

  private openai(ev: HeldEvent, data: Obj): void {
    if (!Array.isArray(data.choices)) return;
    for (const c of data.choices) {
      if (!isObj(c)) continue;
      const i = String(c.index ?? 0);
      this.piece(`c${i}`, ev, c, 'text');
      const delta = c.delta;
      if (!isObj(delta)) continue;
      this.piece(`c${i}`, ev, delta, 'content');
      if (Array.isArray(delta.tool_calls))
        for (const t of delta.tool_calls)
          if (isObj(t) && isObj(t.function))
            this.piece(`t${i}.${String(t.index ?? 0)}`, ev, t.function, 'arguments');
    }
  }

  private anthropic(ev: HeldEvent, data: Obj): void {
    const ch = `b${String(data.index ?? 0)}`;
    if (data.type === 'content_block_delta' && isObj(data.delta)) {
      this.piece(ch, ev, data.delta, 'text');
      this.piece(ch, ev, data.delta, 'partial_json');
    } else if (data.type === 'content_block_start' && isObj(data.content_block)) {
      this.piece(ch, ev, data.content_block, 'text');
    }
  }

  private responses(ev: HeldEvent, data: Obj): void {
    const t = data.type;
    const item = String(data.output_index ?? 0);
    if (t === 'response.output_text.delta')
      this.piece(`o${item}.${String(data.content_index ?? 0)}`, ev, data, 'delta');
    else if (t === 'response.function_call_arguments.delta') this.piece(`f${item}`, ev, data, 'delta');
    else {
      // Events that repeat a whole text: masked the same way on their own, never scanned for blocks.
      const slots: Slot[] = [];
      if (t === 'response.output_text.done') slots.push({ o: data, k: 'text' });
      else if (t === 'response.function_call_arguments.done') slots.push({ o: data, k: 'arguments' });
      else if (isObj(data.part)) slots.push({ o: data.part, k: 'text' });
      else if (isObj(data.item)) responseItem(slots, data.item);
      else if (isObj(data.response) && Array.isArray(data.response.output))
        for (const it of data.response.output) if (isObj(it)) responseItem(slots, it);
      for (const slot of slots) if (typeof slotText(slot) === 'string') this.wholes.push({ ev, slot });
    }
  }
}

function splitEvents(s: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (let i = s.indexOf('\n\n'); i !== -1; i = s.indexOf('\n\n', from)) {
    out.push(s.slice(from, i + 2));
    from = i + 2;
  }
  if (from < s.length) out.push(s.slice(from));
  return out;
}

function parseEvent(raw: string): { event: string | undefined; data: Obj | undefined } {
  let event: string | undefined;
  let data: string | undefined;
  for (const line of raw.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) {
      const v = line.slice(line[5] === ' ' ? 6 : 5);
      data = data === undefined ? v : `${data}\n${v}`;
    }
  }
  if (data === undefined || data === '[DONE]' || data[0] !== '{') return { event, data: undefined };
  try {
    const v: unknown = JSON.parse(data);
    return { event, data: isObj(v) ? v : undefined };
  } catch {
    return { event, data: undefined };
  }
}

function render(ev: HeldEvent): string {
  const head = ev.event === undefined ? '' : `event: ${ev.event}\n`;
  return `${head}data: ${JSON.stringify(ev.data)}\n\n`;
}
