/**
 * The caller-dialect SSE events a stream tap holds: splitting the relayed bytes into events,
 * parsing their JSON, and finding the text in each (per dialect) as slots on channels — one
 * channel per choice, content block or output item, tool-call arguments on their own — so a
 * channel's pieces joined are its whole text. Events that repeat a whole text (Responses
 * `.done` events) are reported apart: they are masked, never scanned on their own.
 */
import { type Dialect, responseItem, type Slot, slotText } from './extract.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The start of an event still waiting for its blank line is not counted against a stream's
 * buffer cap up to this size (its content is counted once it is whole): the native relay parses
 * events up to 1 MiB whole (`MAX_PARSE_BUFFER` in providers' raw-sse), and a legitimate event of
 * that size can be mostly framing (a Responses `response.created` echoing long instructions, a
 * `.done` event repeating text already counted). Past it the whole partial event counts, so one
 * that never ends meets `on_buffer_exceeded` instead of growing without bound.
 */
export const PARTIAL_EVENT_FREE = 1024 * 1024;

/** The bytes a held partial event counts against the cap (its UTF-16 length, a lower bound). */
export const partialCount = (pending: string): number =>
  pending.length > PARTIAL_EVENT_FREE ? pending.length : 0;

export interface HeldEvent {
  /** The event as received (released as is unless a slot in it was masked). */
  readonly raw: string;
  readonly event: string | undefined;
  readonly data: Obj | undefined;
  dirty: boolean;
}

export interface EventPiece {
  readonly channel: string;
  readonly slot: Slot;
}

/** The text pieces of one event; whole-text repeats are pushed onto `wholes`. */
export function eventPieces(d: Dialect, data: Obj, wholes: Slot[]): EventPiece[] {
  const out: EventPiece[] = [];
  const piece = (channel: string, o: Obj, k: string) => {
    const v = o[k];
    if (typeof v === 'string' && v.length > 0) out.push({ channel, slot: { o, k } });
  };
  if (d === 'openai') {
    if (!Array.isArray(data.choices)) return out;
    for (const c of data.choices) {
      if (!isObj(c)) continue;
      const i = String(c.index ?? 0);
      piece(`c${i}`, c, 'text');
      const delta = c.delta;
      if (!isObj(delta)) continue;
      piece(`c${i}`, delta, 'content');
      if (Array.isArray(delta.tool_calls))
        for (const t of delta.tool_calls)
          if (isObj(t)) {
            const ch = `t${i}.${String(t.index ?? 0)}`;
            if (isObj(t.function)) piece(ch, t.function, 'arguments');
            else if (isObj(t.custom)) piece(ch, t.custom, 'input');
          }
      // The legacy `functions` API streams one call's arguments as `delta.function_call`.
      if (isObj(delta.function_call)) piece(`f${i}`, delta.function_call, 'arguments');
    }
    return out;
  }
  if (d === 'anthropic') {
    const ch = `b${String(data.index ?? 0)}`;
    if (data.type === 'content_block_delta' && isObj(data.delta)) {
      piece(ch, data.delta, 'text');
      piece(ch, data.delta, 'partial_json');
    } else if (data.type === 'content_block_start' && isObj(data.content_block)) {
      piece(ch, data.content_block, 'text');
    }
    return out;
  }
  const t = data.type;
  const item = String(data.output_index ?? 0);
  if (t === 'response.output_text.delta') piece(`o${item}.${String(data.content_index ?? 0)}`, data, 'delta');
  else if (t === 'response.function_call_arguments.delta' || t === 'response.custom_tool_call_input.delta')
    piece(`f${item}`, data, 'delta');
  else {
    const slots: Slot[] = [];
    if (t === 'response.output_text.done') slots.push({ o: data, k: 'text' });
    else if (t === 'response.function_call_arguments.done') slots.push({ o: data, k: 'arguments' });
    else if (t === 'response.custom_tool_call_input.done') slots.push({ o: data, k: 'input' });
    else if (isObj(data.part)) slots.push({ o: data.part, k: 'text' });
    else if (isObj(data.item)) responseItem(slots, data.item);
    else if (isObj(data.response) && Array.isArray(data.response.output))
      for (const it of data.response.output) if (isObj(it)) responseItem(slots, it);
    for (const slot of slots) if (typeof slotText(slot) === 'string') wholes.push(slot);
  }
  return out;
}

/**
 * The caller-dialect stream with its line ends as LF. SSE ends lines with CRLF, LF or CR (the
 * gateway accepts all three: data-plane §6.2, decisions OP-6), and native passthrough streams
 * reach the taps with the upstream's framing: a tap that only knew `\n\n` never saw an event end,
 * so it scanned nothing. A CR that ends a chunk is written as LF at once; an LF that opens the
 * next chunk is then the rest of its CRLF and is dropped. LF-only text is returned as it is.
 */
export class LineEnds {
  private cr = false;

  push(s: string): string {
    if (this.cr && s.charCodeAt(0) === 10) s = s.slice(1);
    this.cr = s.charCodeAt(s.length - 1) === 13;
    return s.indexOf('\r') === -1 ? s : s.replace(/\r\n?/g, '\n');
  }
}

export function splitEvents(s: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (let i = s.indexOf('\n\n'); i !== -1; i = s.indexOf('\n\n', from)) {
    out.push(s.slice(from, i + 2));
    from = i + 2;
  }
  if (from < s.length) out.push(s.slice(from));
  return out;
}

export function parseEvent(raw: string): { event: string | undefined; data: Obj | undefined } {
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

export function render(ev: HeldEvent): string {
  const head = ev.event === undefined ? '' : `event: ${ev.event}\n`;
  return `${head}data: ${JSON.stringify(ev.data)}\n\n`;
}
