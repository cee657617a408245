/**
 * Google error bodies (`{error:{code, message, status}}`, providers.md §8) for Gemini on Google AI
 * Studio and Vertex. The `status` gRPC token is the kind and drives the caller `code` (data-plane
 * §7.4, table in shared/errors.ts); `code` is the HTTP status, kept as the embedded status so an
 * in-band stream error before commit is answered with it.
 *
 * Google sometimes wraps the object in a one-element array (the non-SSE streaming endpoint), so
 * that shape is unwrapped first.
 */
import type { UpstreamErrorInfo } from '../contract.js';
import { parseVertexWireError } from '../shared/errors.js';

function unwrap(text: string): { text: string; code: unknown } {
  try {
    let v: unknown = JSON.parse(text);
    if (Array.isArray(v) && v.length > 0) {
      v = v[0];
      text = JSON.stringify(v);
    }
    const err = v !== null && typeof v === 'object' ? (v as { error?: unknown }).error : undefined;
    const code = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
    return { text, code };
  } catch {
    return { text, code: undefined };
  }
}

export function parseGeminiError(text: string): UpstreamErrorInfo {
  const u = unwrap(text);
  const info = parseVertexWireError(u.text);
  const status = typeof u.code === 'number' && u.code >= 400 && u.code <= 599 ? u.code : undefined;
  return status !== undefined ? { ...info, status } : info;
}
