/**
 * The Admin API error envelope and the one function that maps failures to it.
 *
 * Every error body is JSON `{"error_msg": "..."}`, including the framework-level cases
 * (bad JSON, body too large, wrong content type, unknown route, wrong method), so clients
 * parse one shape. Messages never quote request bodies or secrets: validation text comes
 * pre-masked from core, and store failures are reduced to their message (store errors do
 * not carry credentials).
 */
import { StoreError } from '@aisix/store';

export const MSG_UNAUTHORIZED = 'missing or malformed admin authorization';
export const MSG_NOT_FOUND = 'resource not found';
export const MSG_PLAYGROUND_UNWIRED = 'playground not wired: proxy router not configured';
export const MSG_STATUS_UNWIRED = 'config status not wired: no config sync in this process';

export function fileManagedMessage(path: string): string {
  return (
    `resources are file-managed: this gateway loads its resources from ${path}; ` +
    'edit that file and send SIGHUP to reload instead of using the resource write API'
  );
}

/** A failure with a known status; thrown by handlers and rendered by `errorResponse`. */
export class AdminHttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string> | undefined;
  constructor(status: number, message: string, headers?: Record<string, string>) {
    super(message);
    this.name = 'AdminHttpError';
    this.status = status;
    this.headers = headers;
  }
}

export function jsonError(status: number, message: string, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify({ error_msg: message }), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

// Store details can be long (nested causes); keep the envelope readable.
const MAX_DETAIL = 300;

/**
 * Maps anything a handler throws to a response. Store `unavailable` becomes 500 (the
 * reference's status for backend failures; a 503 would invite blind retries of writes that
 * may have been committed). `internal` is true when the failure is unexpected and worth an
 * error log line.
 */
export function errorResponse(err: unknown): { response: Response; internal: boolean } {
  if (err instanceof AdminHttpError) {
    return { response: jsonError(err.status, err.message, err.headers), internal: false };
  }
  if (err instanceof StoreError) {
    switch (err.code) {
      case 'not_found':
        return { response: jsonError(404, MSG_NOT_FOUND), internal: false };
      case 'conflict':
        return {
          response: jsonError(409, `name "${err.conflictValue ?? ''}" already in use by another resource`),
          internal: false,
        };
      case 'revision_mismatch':
        return {
          response: jsonError(412, `precondition failed: ${err.message}`),
          internal: false,
        };
      case 'undecodable':
        // A key holding a value that is not a JSON document (the handlers name it themselves).
        return { response: jsonError(409, err.message), internal: false };
      case 'too_large':
        // Refused before anything was sent to the store: nothing is written.
        return {
          response: jsonError(413, `document too large to store: ${err.message}`),
          internal: false,
        };
      case 'read_only':
        return { response: jsonError(409, 'resources are read-only on this gateway'), internal: false };
      default: {
        const detail =
          err.message.length > MAX_DETAIL ? `${err.message.slice(0, MAX_DETAIL)}...` : err.message;
        return {
          response: jsonError(500, `store error: store backend failure: ${detail}`),
          internal: true,
        };
      }
    }
  }
  return { response: jsonError(500, 'internal error'), internal: true };
}
