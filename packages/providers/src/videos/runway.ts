/** Runway text-to-video tasks (API version pinned by header on every call). */
import type { VideoStatus, VideoVendor } from './contract.js';
import { at, failure, missing, redirectPoll, statusOf, text } from './fields.js';

const STATUS: Readonly<Record<string, VideoStatus>> = {
  PENDING: 'queued',
  THROTTLED: 'queued',
  RUNNING: 'in_progress',
  SUCCEEDED: 'completed',
};

const VERSION = { 'x-runway-version': '2024-11-06' } as const;

export const runwayVideos: VideoVendor = {
  id: 'runwayml',
  ids: ['runwayml', 'runway'],
  delivery: 'redirect',
  rootSuffixes: [],
  submitPath: '/v1/text_to_video',
  pollPath: (task) => `/v1/tasks/${task}`,
  headers: { submit: VERSION, poll: VERSION },
  body(s) {
    const body: Record<string, unknown> = { model: s.model, promptText: s.prompt };
    if (s.seconds !== undefined) body.duration = s.seconds;
    if (s.size !== undefined) body.ratio = `${s.size.width}:${s.size.height}`;
    return body;
  },
  parseSubmit(doc) {
    const taskId = text(at(doc, 'id'));
    if (taskId === undefined) return missing('id');
    return { ok: true, value: { taskId, status: 'queued' } };
  },
  parsePoll(doc) {
    const status = statusOf(at(doc, 'status'), STATUS);
    if (status === undefined) return missing('status');
    const videoUrl = text(at(doc, 'output', 0));
    const error = failure(at(doc, 'failureCode'), at(doc, 'failure'));
    return redirectPoll(status, undefined, videoUrl, error);
  },
};
