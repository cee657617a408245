/** Volcengine Ark content generation tasks (Seedance and friends). */
import type { VideoStatus, VideoVendor } from './contract.js';
import { at, duration, failure, missing, redirectPoll, statusOf, text } from './fields.js';

const STATUS: Readonly<Record<string, VideoStatus>> = {
  queued: 'queued',
  running: 'in_progress',
  succeeded: 'completed',
};

export const volcengineVideos: VideoVendor = {
  id: 'volcengine',
  ids: ['volcengine'],
  delivery: 'redirect',
  rootSuffixes: ['/api/v3'],
  submitPath: '/api/v3/contents/generations/tasks',
  pollPath: (task) => `/api/v3/contents/generations/tasks/${task}`,
  // Ark takes the frame size from the model; `size` is validated by the gateway, not sent.
  body(s) {
    const body: Record<string, unknown> = { model: s.model, content: [{ type: 'text', text: s.prompt }] };
    if (s.seconds !== undefined) body.duration = s.seconds;
    return body;
  },
  parseSubmit(doc) {
    const taskId = text(at(doc, 'id'));
    if (taskId === undefined) return missing('id');
    // The create call answers the id only; a new task is queued.
    return { ok: true, value: { taskId, status: 'queued' } };
  },
  parsePoll(doc) {
    const status = statusOf(at(doc, 'status'), STATUS);
    if (status === undefined) return missing('status');
    const seconds = duration(at(doc, 'duration'));
    const videoUrl = text(at(doc, 'content', 'video_url'));
    const error = failure(at(doc, 'error', 'code'), at(doc, 'error', 'message'));
    return redirectPoll(status, seconds, videoUrl, error);
  },
};
