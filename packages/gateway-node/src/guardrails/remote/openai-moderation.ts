/**
 * `openai_moderation`: POST {endpoint}/moderations (`{model, input}`, bearer key). Detection only:
 * a category whose score reaches its `category_thresholds` entry blocks; without thresholds the
 * vendor's `flagged` decides (the first flagged category names the detector).
 */
import type { Finding } from '../types.js';
import { blockAll, isObj, postJson, type RemoteCheck, RemoteError, trimSlash } from './http.js';

interface Doc {
  readonly api_key: string;
  readonly endpoint?: string | undefined;
  readonly model: string;
  readonly category_thresholds: Readonly<Record<string, number>>;
}

export function openAiModeration(d: Doc): RemoteCheck {
  const url = `${trimSlash(d.endpoint || 'https://api.openai.com/v1')}/moderations`;
  const thresholds = Object.entries(d.category_thresholds);
  return {
    async check(text, _phase, http, signal): Promise<Finding[]> {
      const r = await postJson(
        http,
        url,
        { authorization: `Bearer ${d.api_key}` },
        { model: d.model, input: text },
        signal,
      );
      const result = isObj(r) && Array.isArray(r.results) ? r.results[0] : undefined;
      if (!isObj(result)) throw new RemoteError('bad_response');
      if (thresholds.length > 0) {
        const scores = isObj(result.category_scores) ? result.category_scores : {};
        for (const [cat, t] of thresholds) {
          const s = scores[cat];
          if (typeof s === 'number' && s >= t) return blockAll(cat);
        }
        return [];
      }
      if (result.flagged !== true) return [];
      const cats = isObj(result.categories) ? result.categories : {};
      const hit = Object.keys(cats).find((c) => cats[c] === true);
      return blockAll(hit ?? 'flagged');
    },
  };
}
