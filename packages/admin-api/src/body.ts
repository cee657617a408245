/**
 * Reads an admin request body: content type first, then at most `limit` bytes (counted
 * while streaming, so an oversize body is never buffered whole), then strict UTF-8 and
 * JSON. Each failure is an `AdminHttpError` with the JSON envelope (415, 413, 400; a body cut
 * short by the client closing or resetting the connection is a 400 too, never a 500).
 *
 * The JSON parser's own message is not used: V8 quotes a slice of the input in it, which
 * could echo a secret back to the caller.
 */
import { NESTED_TOO_DEEP, pointerBeyondDepth } from '@aisix/core';
import { AdminHttpError } from './errors.js';

/** 2 MiB, the reference framework's default JSON limit. */
export const MAX_BODY_BYTES = 2 * 1024 * 1024;

/** `application/json` or any `application/*+json`, parameters (charset) allowed. */
export function isJsonContentType(value: string | null): boolean {
  if (value === null) return false;
  const media = (value.split(';')[0] ?? '').trim().toLowerCase();
  // JSON Patch (RFC 6902) is JSON too, but an array of operations, not a document: refused whole.
  if (media === 'application/json-patch+json') return false;
  return media === 'application/json' || (media.startsWith('application/') && media.endsWith('+json'));
}

async function readLimited(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const body = req.body;
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let step: Awaited<ReturnType<typeof reader.read>>;
    try {
      step = await reader.read();
    } catch {
      // The client closed or reset the connection mid-body: its request, not a server failure.
      throw new AdminHttpError(
        400,
        'request body could not be read: the connection ended before it was complete',
      );
    }
    const { done, value } = step;
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      // Stop reading; the HTTP adapter drains or destroys the rest of the request.
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

function tooLarge(limit: number): AdminHttpError {
  return new AdminHttpError(413, `request body too large: the limit is ${limit} bytes`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function readJsonBody(req: Request, limit: number = MAX_BODY_BYTES): Promise<unknown> {
  if (!isJsonContentType(req.headers.get('content-type'))) {
    throw new AdminHttpError(415, 'unsupported content type: expected "Content-Type: application/json"');
  }
  // A compressed body would be read as garbage (or, sent uncompressed under the header, parsed
  // against what the client said): the Admin API takes identity bodies only.
  const encoding = req.headers.get('content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity' && encoding.trim() !== '') {
    throw new AdminHttpError(
      415,
      `unsupported content encoding "${encoding.slice(0, 32)}": send the body uncompressed`,
    );
  }
  const bytes = await readLimited(req, limit);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new AdminHttpError(400, 'request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new AdminHttpError(400, 'request body is empty: expected a JSON document');
  let doc: unknown;
  try {
    doc = JSON.parse(text) as unknown;
  } catch {
    throw new AdminHttpError(400, 'request body is not valid JSON');
  }
  // A body nested thousands of levels deep would overflow the stack of later steps (a 500).
  const tooDeep = pointerBeyondDepth(doc);
  if (tooDeep !== undefined) {
    throw new AdminHttpError(400, `schema validation failed at ${tooDeep}: ${NESTED_TOO_DEEP}`);
  }
  return doc;
}
