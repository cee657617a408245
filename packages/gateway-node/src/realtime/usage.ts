/**
 * Session usage from upstream realtime events (agents-and-jobs §7.5): `response.done` adds
 * `response.usage.input_tokens` / `output_tokens` / `input_token_details.cached_tokens`; an
 * input-audio transcription whose `usage.type` is `tokens` adds its input / output tokens.
 *
 * Most upstream frames are audio deltas (large base64 text): only a frame whose `type` (sent
 * first by the upstream) names one of the two events within its first bytes is parsed.
 */
import type { Usage } from '@aisix/providers';

const HEAD = 256;
const TYPE = /"type"\s*:\s*"(response\.done|conversation\.item\.input_audio_transcription\.completed)"/;

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** Adds the usage a text frame reports to `into`; true when it reported some. */
export function addFrameUsage(frame: Buffer, into: Usage): boolean {
  const m = TYPE.exec(frame.toString('latin1', 0, Math.min(HEAD, frame.length)));
  if (m === null) return false;
  let doc: Record<string, unknown> | undefined;
  try {
    doc = obj(JSON.parse(frame.toString('utf8')));
  } catch {
    return false;
  }
  if (doc === undefined || doc.type !== m[1]) return false;
  let u: Record<string, unknown> | undefined;
  let cached = 0;
  if (m[1] === 'response.done') {
    u = obj(obj(doc.response)?.usage);
    cached = num(obj(u?.input_token_details)?.cached_tokens);
  } else {
    u = obj(doc.usage);
    if (u?.type !== 'tokens') return false;
  }
  if (u === undefined) return false;
  const input = num(u.input_tokens);
  const output = num(u.output_tokens);
  into.prompt_tokens += input;
  into.completion_tokens += output;
  into.total_tokens += input + output;
  into.cached_prompt_tokens += cached;
  return input + output > 0;
}
