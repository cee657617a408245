/** Zhipu AI (BigModel, CogVideoX) asynchronous video generation. */
import type { VideoStatus, VideoVendor } from './contract.js';
import { at, missing, redirectPoll, statusOf, text } from './fields.js';

const STATUS: Readonly<Record<string, VideoStatus>> = {
  PROCESSING: 'in_progress',
  SUCCESS: 'completed',
};

export const zhipuVideos: VideoVendor = {
  id: 'zhipuai',
  ids: ['zhipuai', 'zhipu'],
  delivery: 'redirect',
  rootSuffixes: ['/api/paas/v4'],
  submitPath: '/api/paas/v4/videos/generations',
  pollPath: (task) => `/api/paas/v4/async-result/${task}`,
  body(s) {
    const body: Record<string, unknown> = { model: s.model, prompt: s.prompt };
    if (s.seconds !== undefined) body.duration = s.seconds;
    if (s.size !== undefined) body.size = `${s.size.width}x${s.size.height}`;
    return body;
  },
  parseSubmit(doc) {
    const taskId = text(at(doc, 'id'));
    if (taskId === undefined) return missing('id');
    const status = statusOf(at(doc, 'task_status'), STATUS);
    if (status === undefined) return missing('task_status');
    return { ok: true, value: { taskId, status } };
  },
  parsePoll(doc) {
    const status = statusOf(at(doc, 'task_status'), STATUS);
    if (status === undefined) return missing('task_status');
    const videoUrl = text(at(doc, 'video_result', 0, 'url'));
    return redirectPoll(status, undefined, videoUrl, undefined);
  },
};
