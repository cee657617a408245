/**
 * `lakera`: POST {endpoint}/v2/guard with the text as one message (user on input, assistant on
 * output), `payload` and `breakdown` asked for. A flag from any detector other than PII (prompt
 * attacks, moderated content, unknown links) blocks; a flag from PII detectors only masks the
 * spans the payload locates (detector `pii/email` → `[PII_EMAIL_REDACTED]`).
 */
import type { Finding } from '../types.js';
import { blockAll, isObj, postJson, type RemoteCheck, RemoteError, trimSlash } from './http.js';

interface Doc {
  readonly api_key: string;
  readonly endpoint?: string | undefined;
  readonly project_id?: string | undefined;
}

export function lakera(d: Doc): RemoteCheck {
  const url = `${trimSlash(d.endpoint || 'https://api.lakera.ai')}/v2/guard`;
  return {
    async check(text, phase, http, signal): Promise<Finding[]> {
      const body: Record<string, unknown> = {
        messages: [{ role: phase === 'input' ? 'user' : 'assistant', content: text }],
        payload: true,
        breakdown: true,
      };
      if (d.project_id) body.project_id = d.project_id;
      const r = await postJson(http, url, { authorization: `Bearer ${d.api_key}` }, body, signal);
      if (!isObj(r) || typeof r.flagged !== 'boolean') throw new RemoteError('bad_response');
      if (!r.flagged) return [];
      const detected = (Array.isArray(r.breakdown) ? r.breakdown : [])
        .filter((b) => isObj(b) && b.detected === true)
        .map((b) => String((b as { detector_type?: unknown }).detector_type ?? 'unknown'));
      const other = detected.find((t) => !t.startsWith('pii'));
      if (other !== undefined || detected.length === 0) return blockAll(other ?? 'flagged');
      const out: Finding[] = [];
      for (const p of Array.isArray(r.payload) ? r.payload : []) {
        if (!isObj(p) || typeof p.start !== 'number' || typeof p.end !== 'number' || p.end <= p.start)
          continue;
        out.push({ start: p.start, end: p.end, detector: String(p.detector_type ?? 'pii'), action: 'mask' });
      }
      // Flagged for PII it could not locate: nothing to mask, so it blocks.
      return out.length > 0 ? out : blockAll(detected[0] ?? 'pii');
    },
  };
}
