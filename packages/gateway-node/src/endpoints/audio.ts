/**
 * The audio endpoints (OpenAI-compatible family only; others answer 501 from `checkPassthrough`):
 *
 * - `POST /v1/audio/speech`: JSON in (`model` rewritten), audio bytes out, relayed to the caller
 *   as they arrive under the upstream's content type (`upstream/passthrough.ts`).
 * - `POST /v1/audio/transcriptions`, `/v1/audio/translations`: multipart/form-data in, buffered
 *   within the body cap (64 MiB when the deployment sets none) so the `model` part can be read
 *   wherever it sits, authorized, and rewritten before anything goes upstream
 *   (`http/multipart.ts`). A JSON body is a 400. The answer (JSON, text, srt, vtt) passes through.
 */
import { errors, type GatewayError } from '../errors.js';
import { parseMultipart } from '../http/multipart.js';
import type { EndpointSpec } from '../pipeline/run.js';

/** OpenAI's own upload limit is 25 MB; this bounds memory when no body cap is configured. */
export const MULTIPART_FALLBACK_LIMIT = 64 * 1024 * 1024;

function validateSpeech(body: Record<string, unknown>): GatewayError | undefined {
  if (typeof body.input !== 'string') return errors.badBody('`input` must be a string');
  return undefined;
}

const noRules = (): GatewayError | undefined => undefined;

export const audioSpeech: EndpointSpec = {
  endpoint: 'audio_speech',
  validate: validateSpeech,
  streams: false,
};

export const audioTranscriptions: EndpointSpec = {
  endpoint: 'audio_transcriptions',
  validate: noRules,
  streams: false,
  parse: parseMultipart,
  fallbackBodyLimit: MULTIPART_FALLBACK_LIMIT,
};

export const audioTranslations: EndpointSpec = {
  endpoint: 'audio_translations',
  validate: noRules,
  streams: false,
  parse: parseMultipart,
  fallbackBodyLimit: MULTIPART_FALLBACK_LIMIT,
};
