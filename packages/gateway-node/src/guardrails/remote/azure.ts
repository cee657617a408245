/**
 * Azure AI Content Safety (`Ocp-Apim-Subscription-Key`):
 * - `azure_content_safety`: Prompt Shields, POST {endpoint}/contentsafety/text:shieldPrompt; an
 *   attack detected in the prompt blocks. Prompt attacks are an input concept: output passes.
 * - `azure_content_safety_text_moderation`: POST {endpoint}/contentsafety/text:analyze per window
 *   of `window_size` characters (overlapping by `window_overlap_size`; the service takes 10k
 *   characters at most); a category at or above its severity threshold, or a blocklist match,
 *   blocks.
 */
import type { Finding } from '../types.js';
import { blockAll, isObj, postJson, type RemoteCheck, RemoteError, trimSlash } from './http.js';

const API_VERSION = '2024-09-01';

export function azurePromptShield(d: { endpoint: string; api_key: string }): RemoteCheck {
  const url = `${trimSlash(d.endpoint)}/contentsafety/text:shieldPrompt?api-version=${API_VERSION}`;
  return {
    async check(text, phase, http, signal): Promise<Finding[]> {
      if (phase === 'output') return [];
      const r = await postJson(
        http,
        url,
        { 'ocp-apim-subscription-key': d.api_key },
        { userPrompt: text, documents: [] },
        signal,
      );
      if (!isObj(r) || !isObj(r.userPromptAnalysis)) throw new RemoteError('bad_response');
      return r.userPromptAnalysis.attackDetected === true ? blockAll('prompt_attack') : [];
    },
  };
}

interface ModerationDoc {
  readonly endpoint: string;
  readonly api_key: string;
  readonly categories: readonly string[];
  readonly blocklist_names: readonly string[];
  readonly halt_on_blocklist_hit: boolean;
  readonly output_type: string;
  readonly severity_threshold: number;
  readonly severity_threshold_by_category: Readonly<Record<string, number>>;
  readonly window_size: number;
  readonly window_overlap_size: number;
}

/**
 * Windows of `size` characters, each starting `size - overlap` after the previous one. The
 * overlap is capped at half a window: the contract lets it default to 256 whatever the size, and
 * an overlap near the size would advance one character per vendor call (a 1,000-character prompt
 * made 909 calls with `window_size: 100`).
 */
export function windows(text: string, size: number, overlap: number): string[] {
  if (text.length <= size) return [text];
  const step = Math.max(1, size - Math.min(overlap, Math.floor(size / 2)));
  const out: string[] = [];
  for (let at = 0; at < text.length; at += step) {
    out.push(text.slice(at, at + size));
    if (at + size >= text.length) break;
  }
  return out;
}

export function azureTextModeration(d: ModerationDoc): RemoteCheck {
  const url = `${trimSlash(d.endpoint)}/contentsafety/text:analyze?api-version=${API_VERSION}`;
  const one = async (text: string, http: Parameters<RemoteCheck['check']>[2], signal: AbortSignal) => {
    const r = await postJson(
      http,
      url,
      { 'ocp-apim-subscription-key': d.api_key },
      {
        text,
        categories: d.categories,
        blocklistNames: d.blocklist_names,
        haltOnBlocklistHit: d.halt_on_blocklist_hit,
        outputType: d.output_type,
      },
      signal,
    );
    if (!isObj(r)) throw new RemoteError('bad_response');
    if (Array.isArray(r.blocklistsMatch) && r.blocklistsMatch.length > 0) return blockAll('blocklist');
    for (const c of Array.isArray(r.categoriesAnalysis) ? r.categoriesAnalysis : []) {
      if (!isObj(c) || typeof c.category !== 'string' || typeof c.severity !== 'number') continue;
      const t = d.severity_threshold_by_category[c.category] ?? d.severity_threshold;
      if (c.severity >= t) return blockAll(c.category.toLowerCase());
    }
    return [];
  };
  return {
    async check(text, _phase, http, signal): Promise<Finding[]> {
      const parts = await Promise.all(
        windows(text, d.window_size, d.window_overlap_size).map((w) => one(w, http, signal)),
      );
      return parts.find((p) => p.length > 0) ?? [];
    },
  };
}
