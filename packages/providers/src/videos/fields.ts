/**
 * Small readers for provider JSON: nested fields by path, strings and numbers as the video
 * object wants them, and the shared decode failures (data-plane §7.3 `upstream_decode_error`).
 */
import type { Decoded, VideoFailure, VideoState, VideoStatus } from './contract.js';

export function at(doc: unknown, ...path: (string | number)[]): unknown {
  let v = doc;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** A non-empty string, or a finite number as its decimal string. */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** A reported duration: a non-negative number or numeric string, as a decimal string. */
export function duration(v: unknown): string | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) && n >= 0 ? String(n) : undefined;
}

export const missing = (what: string): Decoded<never> => ({
  ok: false,
  message: `upstream returned an unparseable body: missing ${what}`,
});

/** Maps a provider status through its table; anything unknown is `failed`. */
export function statusOf(
  raw: unknown,
  table: Readonly<Record<string, VideoStatus>>,
): VideoStatus | undefined {
  if (typeof raw !== 'string') return undefined;
  return Object.hasOwn(table, raw) ? table[raw] : 'failed';
}

/** A failure detail when the provider gave a code or a message. */
export function failure(code: unknown, message: unknown): VideoFailure | undefined {
  const c = text(code);
  const m = text(message);
  if (c === undefined && m === undefined) return undefined;
  return { code: c ?? 'video_generation_failed', message: m ?? 'video generation failed' };
}

/**
 * A redirect vendor's poll answer as the video state. These vendors report no progress, so it
 * is all or nothing; fields they did not give are left out.
 */
export function redirectPoll(
  status: VideoStatus,
  seconds: string | undefined,
  videoUrl: string | undefined,
  error: VideoFailure | undefined,
): Decoded<VideoState> {
  return {
    ok: true,
    value: {
      status,
      progress: status === 'completed' ? 100 : 0,
      ...(seconds !== undefined ? { seconds } : {}),
      ...(videoUrl !== undefined ? { videoUrl } : {}),
      ...(error !== undefined ? { error } : {}),
    },
  };
}
