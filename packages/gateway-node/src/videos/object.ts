/**
 * The video object the surface answers (OpenAI's videos shape) and the surface's own errors.
 * Optional fields are omitted, never null; `error` only on a failed task.
 */
import type { VideoFailure, VideoStatus } from '@aisix/providers';
import { GatewayError, notImplemented } from '../errors.js';

export interface VideoObject {
  readonly id: string;
  readonly object: 'video';
  readonly model: string;
  readonly status: VideoStatus;
  readonly progress: number;
  readonly created_at: number;
  readonly seconds?: string;
  readonly size?: string;
  readonly error?: VideoFailure;
}

export const GENERIC_FAILURE: VideoFailure = {
  code: 'video_generation_failed',
  message: 'video generation failed',
};

/** Undecodable ids, Models gone, ACL denials and unsupported providers all read the same. */
export function videoNotFound(id: string): GatewayError {
  const shown = id.length > 256 ? `${id.slice(0, 256)}…` : id;
  return new GatewayError(404, 'video_not_found', `video ${JSON.stringify(shown)} not found`);
}

export function providerNotSupported(provider: string): GatewayError {
  return notImplemented(`provider ${JSON.stringify(provider)} is not yet supported on /v1/videos`);
}

export function malformedId(raw: string): GatewayError {
  const shown = raw.length > 256 ? `${raw.slice(0, 256)}…` : raw;
  return new GatewayError(400, 'invalid_request_error', `malformed resource id ${JSON.stringify(shown)}`);
}
