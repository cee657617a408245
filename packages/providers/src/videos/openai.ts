/**
 * OpenAI videos (Sora). The finished video is only reachable with the provider credential, so
 * the gateway relays its bytes instead of redirecting.
 */
import type { VideoStatus, VideoVendor } from './contract.js';
import { at, duration, failure, missing, statusOf, text } from './fields.js';

const STATUS: Readonly<Record<string, VideoStatus>> = {
  queued: 'queued',
  in_progress: 'in_progress',
  completed: 'completed',
};

export const openaiVideos: VideoVendor = {
  id: 'openai',
  ids: ['openai'],
  delivery: 'proxy',
  defaultBase: 'https://api.openai.com',
  // The OpenAI-family join decides the root (`index.ts`); nothing is stripped here.
  rootSuffixes: [],
  submitPath: '/videos',
  pollPath: (task) => `/videos/${task}`,
  contentPath: (task) => `/videos/${task}/content`,
  body(s) {
    const body: Record<string, unknown> = { model: s.model, prompt: s.prompt };
    if (s.seconds !== undefined) body.seconds = String(s.seconds);
    if (s.size !== undefined) body.size = `${s.size.width}x${s.size.height}`;
    return body;
  },
  parseSubmit(doc) {
    const taskId = text(at(doc, 'id'));
    if (taskId === undefined) return missing('id');
    const status = statusOf(at(doc, 'status'), STATUS);
    if (status === undefined) return missing('status');
    return { ok: true, value: { taskId, status } };
  },
  parsePoll(doc) {
    const status = statusOf(at(doc, 'status'), STATUS);
    if (status === undefined) return missing('status');
    const p = at(doc, 'progress');
    const progress = typeof p === 'number' && Number.isFinite(p) ? Math.min(Math.max(p, 0), 100) : 0;
    const seconds = duration(at(doc, 'seconds'));
    const error = failure(at(doc, 'error', 'code'), at(doc, 'error', 'message'));
    return {
      ok: true,
      value: {
        status,
        progress,
        ...(seconds !== undefined ? { seconds } : {}),
        ...(error !== undefined ? { error } : {}),
      },
    };
  },
};
