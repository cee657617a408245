/**
 * `presidio`: analyze, then anonymize. POST {analyzer_url}/analyze (`{text, language,
 * score_threshold?, entities?}`) locates entities; an entity whose action (per `entities[]`,
 * else `default_action`, else mask) is block blocks; the rest are sent to POST
 * {anonymizer_url}/anonymize with the `operator` (replace, mask, hash, redact), and each span is
 * replaced by the text the anonymizer produced for it. Spans stay spans (not a new text), so
 * the masks also apply across stream chunks.
 */
import type { Action, Finding } from '../types.js';
import { blockAll, isObj, postJson, type RemoteCheck, RemoteError, trimSlash } from './http.js';

interface Doc {
  readonly analyzer_url: string;
  readonly anonymizer_url: string;
  readonly language: string;
  readonly entities?: readonly { type: string; action: Action }[] | undefined;
  readonly score_threshold?: number | undefined;
  readonly default_action?: Action | undefined;
  readonly operator: 'replace' | 'mask' | 'hash' | 'redact';
}

interface Entity {
  readonly entity_type: string;
  readonly start: number;
  readonly end: number;
  readonly score: number;
}

const isEntity = (v: unknown): v is Entity =>
  isObj(v) && typeof v.entity_type === 'string' && typeof v.start === 'number' && typeof v.end === 'number';

function operatorConfig(op: Doc['operator']): Record<string, unknown> {
  switch (op) {
    case 'mask':
      return { type: 'mask', masking_char: '*', chars_to_mask: 1_000_000, from_end: false };
    case 'hash':
      return { type: 'hash', hash_type: 'sha256' };
    case 'redact':
      return { type: 'redact' };
    default:
      return { type: 'replace' };
  }
}

export function presidio(d: Doc): RemoteCheck {
  const analyze = `${trimSlash(d.analyzer_url)}/analyze`;
  const anonymize = `${trimSlash(d.anonymizer_url)}/anonymize`;
  const actions = new Map((d.entities ?? []).map((e) => [e.type, e.action]));
  const only = d.entities && d.entities.length > 0 ? d.entities.map((e) => e.type) : undefined;
  return {
    async check(text, _phase, http, signal): Promise<Finding[]> {
      const req: Record<string, unknown> = { text, language: d.language };
      if (d.score_threshold !== undefined) req.score_threshold = d.score_threshold;
      if (only) req.entities = only;
      const found = await postJson(http, analyze, {}, req, signal);
      if (!Array.isArray(found)) throw new RemoteError('bad_response');
      const entities = found
        .filter(isEntity)
        .filter((e) => d.score_threshold === undefined || e.score >= d.score_threshold)
        .sort((a, b) => a.start - b.start);
      if (entities.length === 0) return [];
      const blocking = entities.find(
        (e) => (actions.get(e.entity_type) ?? d.default_action ?? 'mask') === 'block',
      );
      if (blocking) return blockAll(blocking.entity_type);
      const anon = await postJson(
        http,
        anonymize,
        {},
        { text, anonymizers: { DEFAULT: operatorConfig(d.operator) }, analyzer_results: entities },
        signal,
      );
      const items = isObj(anon) && Array.isArray(anon.items) ? anon.items.filter(isObj) : [];
      // Items locate the replacements in the anonymized text, in text order: the n-th item
      // replaces the n-th (non-overlapping) entity.
      items.sort((a, b) => Number(a.start) - Number(b.start));
      const spans = nonOverlapping(entities);
      const at = utf16Index(text);
      return spans.map((e, i) => {
        const item = items.length === spans.length ? items[i] : undefined;
        const replacement = typeof item?.text === 'string' ? item.text : `<${e.entity_type}>`;
        return { start: at(e.start), end: at(e.end), detector: e.entity_type, action: 'mask', replacement };
      });
    },
  };
}

/**
 * Presidio is a Python service: its offsets count code points, where a JavaScript index counts
 * UTF-16 units (an emoji is two). Maps a code-point offset of `text` to its string index; the
 * identity when the text has no surrogate pair.
 */
export function utf16Index(text: string): (codePoint: number) => number {
  if (!/[\uD800-\uDFFF]/.test(text)) return (cp) => cp;
  const index: number[] = [];
  for (let i = 0; i < text.length; i++) {
    index.push(i);
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  index.push(text.length);
  return (cp) => index[Math.max(0, Math.min(cp, index.length - 1))] as number;
}

/** Overlapping entities keep the first (highest-starting-first wins as Presidio's own merge). */
function nonOverlapping(sorted: readonly Entity[]): Entity[] {
  const out: Entity[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && e.start < last.end) continue;
    out.push(e);
  }
  return out;
}
