/**
 * One guardrail resource compiled for scanning: its phases, mode, stream policy and a `scan` that
 * returns what it found in a text. Local kinds only (`keyword`, `pii`); the remote vendor kinds
 * compile to undefined and are reported by `inert-resources.ts`.
 *
 * Operator-written regexes (keyword `regex` patterns, pii `custom_patterns`) run on re2js, RE2's
 * linear-time engine: no pattern can backtrack catastrophically, whatever the input. Built-in
 * detectors are V8 regexes written to be linear (`detectors.ts`). Literal keywords are a
 * case-insensitive substring search.
 */
import { re2, timerMs } from '@aisix/core';
import { BUILTIN_DETECTORS, type BuiltinDetector, findBuiltin, traitsOf } from './detectors.js';
import { anyPrefilter, foldedOnce, patternPrefilter } from './prefilter.js';
import type { RemoteCheck } from './remote/http.js';
import { type RemoteOptions, remoteCheck } from './remote/index.js';
import type { Action, Finding, GuardrailDoc } from './types.js';

export type { Action, Finding, GuardrailDoc } from './types.js';

export interface StreamPolicy {
  readonly mode: 'buffer_full' | 'window';
  readonly maxBufferBytes: number;
  readonly failOpen: boolean;
  /** Window mode: characters per scanned window and the overlap between windows. */
  readonly windowSize: number;
  readonly overlap: number;
}

export interface CompiledGuardrail {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly monitor: boolean;
  readonly input: boolean;
  readonly output: boolean;
  /** Epoch ms of `created_at` (undated: +Infinity, evaluated last). */
  readonly createdAt: number;
  readonly stream: StreamPolicy;
  /** What it was compiled from (the scan worker compiles the same guardrail from it). */
  readonly source: { readonly id: string; readonly doc: GuardrailDoc };
  /** Local kinds: the in-process scan. */
  readonly scan?: (text: string) => Finding[];
  /** Remote kinds: the vendor call, its deadline, and whether a failure lets the text through. */
  readonly remote?: {
    readonly check: RemoteCheck;
    readonly timeoutMs: number;
    readonly failOpen: { readonly input: boolean; readonly output: boolean };
    /**
     * Judges only the user's own content on input (Azure text moderation's default
     * `text_source: concatenate_user_content`): system prompts, instructions and tool output
     * are left out of what the vendor sees.
     */
    readonly userContentOnly?: true;
  };
}

export const DEFAULT_MAX_BUFFER_BYTES = 262_144;

/**
 * Kinds that have the streaming fields (control-plane §3.7): only the text-moderation kinds
 * may stream in windows; these and the buffering kinds have a buffer cap. On any other kind
 * such fields are unknown root fields, which are ignored (a `pii` guardrail with a stray
 * `stream_processing_mode: window` would otherwise release its stream unmasked).
 */
const WINDOWED_KINDS: ReadonlySet<string> = new Set([
  'azure_content_safety_text_moderation',
  'aliyun_text_moderation',
  'aliyun_ai_guardrail',
]);
const BUFFER_KINDS: ReadonlySet<string> = new Set([...WINDOWED_KINDS, 'pii', 'presidio', 'lakera']);

/** Compiles one guardrail; undefined for a kind this gateway does not run (the Aliyun kinds). */
export function compileGuardrail(
  id: string,
  g: GuardrailDoc,
  remote: RemoteOptions = {},
): CompiledGuardrail | undefined {
  const created = g.created_at === undefined ? Number.POSITIVE_INFINITY : Date.parse(g.created_at);
  const buffer = (BUFFER_KINDS.has(g.kind) ? g : {}) as {
    max_buffer_bytes?: number;
    on_buffer_exceeded?: string;
    stream_processing_mode?: string;
    window_size?: number;
    window_overlap_size?: number;
  };
  const windowed = WINDOWED_KINDS.has(g.kind) && buffer.stream_processing_mode === 'window';
  const common = {
    id,
    name: g.name,
    kind: g.kind,
    monitor: g.enforcement_mode === 'monitor',
    input: g.hook_point !== 'output',
    // Prompt Shields judge prompts only: no output scan, so no stream hold-back either.
    output: g.hook_point !== 'input' && g.kind !== 'azure_content_safety',
    createdAt: Number.isNaN(created) ? Number.POSITIVE_INFINITY : created,
    stream: {
      mode: windowed ? ('window' as const) : ('buffer_full' as const),
      maxBufferBytes: buffer.max_buffer_bytes ?? DEFAULT_MAX_BUFFER_BYTES,
      failOpen: buffer.on_buffer_exceeded === 'fail_open',
      windowSize: buffer.window_size ?? 0,
      overlap: buffer.window_overlap_size ?? 0,
    },
    source: { id, doc: g },
  };
  if (g.kind === 'keyword') return { ...common, scan: keywordScanner(g.patterns) };
  if (g.kind === 'pii') return { ...common, scan: piiScanner(g) };
  const check = remoteCheck(g, remote);
  if (check === undefined) return undefined;
  // `timeout_ms` is a u64: past a timer's range it means "practically never", not 1 ms.
  const timeoutMs = timerMs(
    g.kind === 'bedrock'
      ? g.latency_mode.kind === 'timed'
        ? g.latency_mode.timeout_ms
        : 5000
      : g.timeout_ms,
  );
  const open = g.fail_open && !g.mandatory;
  const outputOpen = open && (g as { output_fail_open?: boolean }).output_fail_open === true;
  const userOnly =
    g.kind === 'azure_content_safety_text_moderation' &&
    (g as { text_source?: string }).text_source !== 'concatenate_all_content';
  return {
    ...common,
    remote: {
      check,
      timeoutMs,
      failOpen: { input: open, output: outputOpen },
      ...(userOnly ? { userContentOnly: true as const } : {}),
    },
  };
}

/** Keyword guardrails block on the first hit; where it is does not matter (never masked). */
function keywordScanner(patterns: readonly { kind: 'literal' | 'regex'; value: string }[]) {
  const literals = patterns.filter((p) => p.kind === 'literal').map((p) => p.value.toLowerCase());
  const sources = patterns.filter((p) => p.kind === 'regex').map((p) => p.value);
  // One alternation: RE2 runs all patterns in a single linear pass, when their literals allow.
  const re = sources.length === 0 ? undefined : re2().compile(sources.map((v) => `(?:${v})`).join('|'));
  const pre = re === undefined ? undefined : anyPrefilter(sources);
  const hit: Finding[] = [{ start: 0, end: 0, detector: 'keyword', action: 'block' }];
  return (text: string): Finding[] => {
    let lower: string | undefined;
    if (literals.length > 0) {
      lower = text.toLowerCase();
      for (const l of literals) if (lower.includes(l)) return hit;
    }
    // The literals' lowercase copy is reused by the prefilter: one pass over a long prompt.
    if (
      re !== undefined &&
      (pre === undefined || pre(text, foldedOnce(text, lower))) &&
      re.matcher(text).find()
    )
      return hit;
    return [];
  };
}

interface PiiDoc {
  readonly detectors?: readonly { type: BuiltinDetector; action: Action }[] | undefined;
  readonly custom_patterns?:
    | readonly { name: string; regex: string; action?: Action | undefined }[]
    | undefined;
  readonly default_action: Action;
}

/**
 * No `detectors` list: every built-in detector with `default_action`. A list (even empty): only
 * those. Custom patterns add to either.
 */
function piiScanner(g: PiiDoc) {
  const builtins =
    g.detectors ?? BUILTIN_DETECTORS.map((type) => ({ type, action: g.default_action as Action }));
  const customs = (g.custom_patterns ?? []).map((c) => ({
    name: c.name,
    action: c.action ?? g.default_action,
    re: re2().compile(c.regex),
    pre: patternPrefilter(c.regex),
  }));
  return (text: string): Finding[] => {
    const out: Finding[] = [];
    // What the detectors' prefilters learn about the text, shared by all of them (`detectors.ts`).
    const traits = builtins.length > 0 ? traitsOf(text) : null;
    for (const d of builtins) {
      for (const s of findBuiltin(d.type, text, traits))
        out.push({ start: s.start, end: s.end, detector: d.type, action: d.action });
    }
    const folded = foldedOnce(text);
    for (const c of customs) {
      if (c.pre !== undefined && !c.pre(text, folded)) continue;
      const m = c.re.matcher(text);
      while (m.find()) {
        const start = m.start();
        const end = m.end();
        if (end > start) out.push({ start, end, detector: c.name, action: c.action });
      }
    }
    return out;
  };
}
