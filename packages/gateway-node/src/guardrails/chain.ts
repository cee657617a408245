/**
 * Running a resolved chain over one text, and applying its masks to the pieces the text was
 * joined from (message fields on input; stream deltas on output, where a span may cross piece
 * boundaries).
 *
 * Every guardrail scans the original text; the first blocking guardrail in block mode ends the
 * chain. Mask spans of all block-mode guardrails are merged (overlaps keep the first token).
 * Monitor-mode guardrails only record what they would have done.
 */
import type { CompiledGuardrail, Finding } from './compile.js';
import { redactionToken } from './detectors.js';

export interface Mask {
  readonly start: number;
  end: number;
  readonly token: string;
}

export interface Hit {
  readonly guardrail: string;
  readonly detector: string;
  readonly verdict: 'would_block' | 'would_mask';
}

export interface Timing {
  readonly guardrail: string;
  readonly kind: string;
  readonly seconds: number;
  readonly result: 'pass' | 'block' | 'mask' | 'monitor' | 'bypass';
  /** Why a remote guardrail could not evaluate (`timeout`, `status_5xx`...); `none` otherwise. */
  readonly errorType: string;
}

export interface Judgement {
  /** The guardrail (and detector) that blocked, if any. */
  readonly block: { readonly guardrail: string; readonly detector: string } | undefined;
  /** Sorted, non-overlapping. */
  readonly masks: readonly Mask[];
  readonly hits: readonly Hit[];
  /** Masked spans per detector. */
  readonly redacted: Readonly<Record<string, number>>;
  readonly timings: readonly Timing[];
  /** Guardrails that could not evaluate and were let through, with the reason. */
  readonly bypasses: readonly { readonly guardrail: string; readonly reason: string }[];
}

/** What one guardrail made of one text. */
export interface Outcome {
  /** Its findings; undefined when it could not evaluate (`error` says why). */
  readonly findings: readonly Finding[] | undefined;
  readonly seconds: number;
  readonly error?: string;
  /** A failure that must block (fail closed / mandatory) rather than be bypassed. */
  readonly closed?: boolean;
}

/** Every local guardrail of `chain` over `text` (one outcome per member, in order). */
export function scanLocal(chain: readonly CompiledGuardrail[], text: string): Outcome[] {
  return chain.map((g) => {
    const t0 = performance.now();
    const findings = text.length === 0 || g.scan === undefined ? [] : g.scan(text);
    return { findings, seconds: (performance.now() - t0) / 1000 };
  });
}

/**
 * The chain's verdict from its members' outcomes, in chain order: the first block-mode member
 * that blocks (or failed closed) decides; masks of block-mode members are merged; monitor
 * members only record hits.
 */
export function fold(chain: readonly CompiledGuardrail[], outcomes: readonly Outcome[]): Judgement {
  const masks: Mask[] = [];
  const hits: Hit[] = [];
  const redacted: Record<string, number> = {};
  const timings: Timing[] = [];
  const bypasses: { guardrail: string; reason: string }[] = [];
  for (let i = 0; i < chain.length; i++) {
    const g = chain[i] as CompiledGuardrail;
    const o = outcomes[i] as Outcome;
    const found = o.findings;
    if (found === undefined) {
      if (o.closed && !g.monitor) {
        timings.push(timing(g, o, 'block'));
        return {
          block: { guardrail: g.name, detector: 'unavailable' },
          masks: [],
          hits,
          redacted: {},
          timings,
          bypasses,
        };
      }
      bypasses.push({ guardrail: g.name, reason: o.error ?? 'error' });
      timings.push(timing(g, o, 'bypass'));
      continue;
    }
    const blocking = firstWith(found, 'block');
    if (g.monitor) {
      if (blocking) hits.push({ guardrail: g.name, detector: blocking.detector, verdict: 'would_block' });
      else {
        const m = firstWith(found, 'mask');
        if (m) hits.push({ guardrail: g.name, detector: m.detector, verdict: 'would_mask' });
      }
      timings.push(timing(g, o, found.length > 0 ? 'monitor' : 'pass'));
      continue;
    }
    if (blocking) {
      timings.push(timing(g, o, 'block'));
      return {
        block: { guardrail: g.name, detector: blocking.detector },
        masks: [],
        hits,
        redacted: {},
        timings,
        bypasses,
      };
    }
    for (const f of found) addMask(masks, f, redacted);
    timings.push(timing(g, o, found.length > 0 ? 'mask' : 'pass'));
  }
  return { block: undefined, masks: mergeMasks(masks), hits, redacted, timings, bypasses };
}

// One literal per timing and a plain loop per lookup: fold runs twice per scanned request.
function timing(g: CompiledGuardrail, o: Outcome, result: Timing['result']): Timing {
  return { guardrail: g.name, kind: g.kind, seconds: o.seconds, result, errorType: o.error ?? 'none' };
}

function firstWith(found: readonly Finding[], action: Finding['action']): Finding | undefined {
  for (const f of found) if (f.action === action) return f;
  return undefined;
}

/** The verdict of a chain of local guardrails over `text`. */
export function judge(chain: readonly CompiledGuardrail[], text: string): Judgement {
  return fold(chain, scanLocal(chain, text));
}

function addMask(masks: Mask[], f: Finding, redacted: Record<string, number>): void {
  masks.push({ start: f.start, end: f.end, token: f.replacement ?? redactionToken(f.detector) });
  redacted[f.detector] = (redacted[f.detector] ?? 0) + 1;
}

function mergeMasks(masks: Mask[]): Mask[] {
  if (masks.length < 2) return masks;
  masks.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Mask[] = [masks[0] as Mask];
  for (let i = 1; i < masks.length; i++) {
    const m = masks[i] as Mask;
    const last = out[out.length - 1] as Mask;
    if (m.start < last.end) last.end = Math.max(last.end, m.end);
    else out.push({ ...m });
  }
  return out;
}

/** `text` with its masks applied. */
export function applyMasks(text: string, masks: readonly Mask[]): string {
  return maskPieces([text], 0, masks)[0] as string;
}

/**
 * The pieces of a text (joined with `sepLen`-long separators) with the masks applied: each span
 * becomes its token in the piece where it starts (or the first piece it reaches, when it starts
 * in a separator), and its remaining characters are removed from the pieces it continues into.
 */
export function maskPieces(pieces: readonly string[], sepLen: number, masks: readonly Mask[]): string[] {
  const out: string[] = new Array(pieces.length);
  let mi = 0;
  let emitted = -1;
  let offset = 0;
  for (let i = 0; i < pieces.length; i++) {
    const p = pieces[i] as string;
    const end = offset + p.length;
    while (mi < masks.length && (masks[mi] as Mask).end <= offset) mi++;
    let s = '';
    let pos = offset;
    for (let j = mi; j < masks.length; j++) {
      const m = masks[j] as Mask;
      if (m.start >= end) break;
      if (m.end <= offset) continue;
      const from = Math.max(m.start, offset);
      s += p.slice(pos - offset, from - offset);
      if (emitted < j) {
        s += m.token;
        emitted = j;
      }
      pos = Math.min(m.end, end);
    }
    out[i] = pos === offset && s === '' ? p : s + p.slice(pos - offset);
    offset = end + sepLen;
  }
  return out;
}
