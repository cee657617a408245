/**
 * The video id: the gateway stores nothing, so the id carries where the task lives —
 * `base64url(<model entry id>:<base64url(requested name)>:<provider task id>)`, unpadded. The
 * requested name rides along so a key allowed only a wildcard-matched name (`wan/turbo` under
 * `wan/*`) can poll its own task. Decoding is strict: the base64url alphabet without padding,
 * bytes that re-encode to the same text, fatal UTF-8 and three non-empty parts (the task id may
 * itself contain `:`).
 */

export interface VideoRef {
  readonly modelId: string;
  readonly requestedName: string;
  readonly taskId: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

const enc = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

function dec(s: string): string | undefined {
  if (!B64URL.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64url');
  // Non-canonical trailing bits (two encodings of the same bytes) are refused.
  if (bytes.toString('base64url') !== s) return undefined;
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

export function encodeVideoId(r: VideoRef): string {
  return enc(`${r.modelId}:${enc(r.requestedName)}:${r.taskId}`);
}

export function decodeVideoId(id: string): VideoRef | undefined {
  const raw = dec(id);
  if (raw === undefined) return undefined;
  const a = raw.indexOf(':');
  const b = a === -1 ? -1 : raw.indexOf(':', a + 1);
  if (b === -1) return undefined;
  const modelId = raw.slice(0, a);
  const requestedName = dec(raw.slice(a + 1, b));
  const taskId = raw.slice(b + 1);
  if (modelId === '' || taskId === '' || requestedName === undefined || requestedName === '')
    return undefined;
  return { modelId, requestedName, taskId };
}

const SAFE_ID = /^[A-Za-z0-9\-_.:]{1,256}$/;

/** A provider task id that may go into an upstream URL path as is. */
export function safeUpstreamId(id: string): boolean {
  return SAFE_ID.test(id) && id !== '.' && id !== '..';
}
