/**
 * The Admin API as the GitOps commands use it: list every kind, create, replace, delete,
 * read one entry's current revision, and the config status's `rejected[]` rows. The admin key goes only into the
 * Authorization header; errors carry the status and the server's `error_msg`, never the key.
 */
import type { KindName } from '@aisix/core';
import type { Doc } from './refs.js';

export interface LiveEntry {
  readonly kind: KindName;
  readonly id: string;
  readonly value: Doc;
  readonly revision: number;
}

export class AdminError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'AdminError';
    this.status = status;
  }
}

const TIMEOUT_MS = 30_000;

export class AdminApi {
  readonly base: string;
  readonly #auth: string;

  constructor(url: string, adminKey: string) {
    this.base = `${url.replace(/\/+$/, '')}/admin/v1`;
    this.#auth = `Bearer ${adminKey}`;
  }

  async #call(method: string, path: string, body?: unknown, ifRevision?: number): Promise<unknown> {
    const headers: Record<string, string> = { authorization: this.#auth, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // The Admin API's compare-and-set: the write lands only at the revision the plan saw (412 otherwise).
    if (ifRevision !== undefined) headers['if-match'] = `"${ifRevision}"`;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
      throw new AdminError(0, `${method} ${this.base}${path}: cannot reach the Admin API${cause}`);
    }
    const text = await res.text();
    if (res.status !== 200) {
      let msg = text.trim();
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null && 'error_msg' in parsed) {
          msg = String(parsed.error_msg);
        }
      } catch {
        // not JSON: keep the text
      }
      throw new AdminError(res.status, `${method} ${path} → ${res.status}${msg === '' ? '' : ` ${msg}`}`);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new AdminError(res.status, `${method} ${path}: the answer is not JSON`);
    }
  }

  async list(kind: KindName): Promise<LiveEntry[]> {
    const body = await this.#call('GET', `/${kind}`);
    if (!Array.isArray(body)) throw new AdminError(200, `GET /${kind}: expected a JSON array`);
    return body.map((e) => toEntry(kind, e));
  }

  /** The entry, or null when it no longer exists. */
  async get(kind: KindName, id: string): Promise<LiveEntry | null> {
    try {
      return toEntry(kind, await this.#call('GET', `/${kind}/${encodeURIComponent(id)}`));
    } catch (err) {
      if (err instanceof AdminError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * `rejected[]` of `GET /admin/v1/status/config`: what the gateway does not serve, which is
   * also what the Admin API's lists leave out. Throws AdminError 501 when this process has
   * no config sync.
   */
  async rejected(): Promise<RejectedRow[]> {
    const body = await this.#call('GET', '/status/config');
    const rows = typeof body === 'object' && body !== null && 'rejected' in body ? body.rejected : [];
    if (!Array.isArray(rows)) throw new AdminError(200, 'GET /status/config: malformed rejected[]');
    const str = (o: Record<string, unknown>, k: string) => (typeof o[k] === 'string' ? (o[k] as string) : '');
    return rows
      .filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null)
      .map((r) => ({
        kind: str(r, 'resource_kind'),
        id: str(r, 'resource_id'),
        errorKind: str(r, 'last_error_kind'),
        error: str(r, 'last_error'),
      }));
  }

  async create(kind: KindName, doc: Doc): Promise<LiveEntry> {
    return toEntry(kind, await this.#call('POST', `/${kind}`, doc));
  }

  /** PUT; with `ifRevision`, only while the entry is still at that revision. */
  async replace(kind: KindName, id: string, doc: Doc, ifRevision?: number): Promise<LiveEntry> {
    return toEntry(kind, await this.#call('PUT', `/${kind}/${encodeURIComponent(id)}`, doc, ifRevision));
  }

  /** DELETE; with `ifRevision`, only while the entry is still at that revision. */
  async remove(kind: KindName, id: string, ifRevision?: number): Promise<void> {
    await this.#call('DELETE', `/${kind}/${encodeURIComponent(id)}`, undefined, ifRevision);
  }
}

/** A `rejected[]` row of the config status: a stored entry the gateway does not serve. */
export interface RejectedRow {
  readonly kind: string;
  readonly id: string;
  readonly errorKind: string;
  readonly error: string;
}

function toEntry(kind: KindName, e: unknown): LiveEntry {
  if (typeof e !== 'object' || e === null) throw new AdminError(200, `${kind}: malformed entry`);
  const { id, value, revision } = e as { id?: unknown; value?: unknown; revision?: unknown };
  if (typeof id !== 'string' || typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AdminError(200, `${kind}: malformed entry`);
  }
  return { kind, id, value: value as Doc, revision: typeof revision === 'number' ? revision : 0 };
}
