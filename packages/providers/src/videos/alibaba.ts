/** Alibaba Cloud Model Studio (DashScope) asynchronous video synthesis. */
import type { VideoStatus, VideoVendor } from './contract.js';
import { at, duration, failure, missing, redirectPoll, statusOf, text } from './fields.js';

const STATUS: Readonly<Record<string, VideoStatus>> = {
  PENDING: 'queued',
  RUNNING: 'in_progress',
  SUCCEEDED: 'completed',
};

export const alibabaVideos: VideoVendor = {
  id: 'alibaba',
  ids: ['alibaba'],
  delivery: 'redirect',
  rootSuffixes: ['/compatible-mode/v1', '/api/v1', '/v1'],
  submitPath: '/api/v1/services/aigc/video-generation/video-synthesis',
  pollPath: (task) => `/api/v1/tasks/${task}`,
  // The endpoint only accepts asynchronous calls.
  headers: { submit: { 'x-dashscope-async': 'enable' } },
  body(s) {
    const parameters: Record<string, unknown> = {};
    if (s.seconds !== undefined) parameters.duration = s.seconds;
    if (s.size !== undefined) parameters.size = `${s.size.width}*${s.size.height}`;
    const body: Record<string, unknown> = { model: s.model, input: { prompt: s.prompt } };
    if (Object.keys(parameters).length > 0) body.parameters = parameters;
    return body;
  },
  parseSubmit(doc) {
    const taskId = text(at(doc, 'output', 'task_id'));
    if (taskId === undefined) return missing('output.task_id');
    const status = statusOf(at(doc, 'output', 'task_status'), STATUS);
    if (status === undefined) return missing('output.task_status');
    return { ok: true, value: { taskId, status } };
  },
  parsePoll(doc) {
    const status = statusOf(at(doc, 'output', 'task_status'), STATUS);
    if (status === undefined) return missing('output.task_status');
    const seconds =
      duration(at(doc, 'usage', 'output_video_duration')) ?? duration(at(doc, 'usage', 'duration'));
    const videoUrl = text(at(doc, 'output', 'video_url'));
    const error = failure(at(doc, 'output', 'code'), at(doc, 'output', 'message'));
    return redirectPoll(status, seconds, videoUrl, error);
  },
};
