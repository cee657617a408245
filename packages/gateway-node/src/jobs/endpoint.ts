/**
 * The job APIs: `/v1/files…`, `/v1/batches…`, `/v1/fine_tuning/jobs…` (OpenAI-compatible).
 * Every call authenticates like the model endpoints, picks its Model (`target.ts`: the Model in
 * a gateway id first, then the caller's hint, then a default), passes the key, model and policy
 * quota (`admit.ts`), and makes one upstream call (`upstream.ts`) whose resource ids come back
 * encoded for that Model (`ids.ts`), so later calls carrying only an id route back to it.
 *
 * The upload streams (`upload.ts`); a retrieved completed batch has its usage attributed from
 * its output file (`attribution.ts`).
 */
import { NESTED_TOO_DEEP, nestedTooDeep } from '@aisix/core';
import { errors, GatewayError, renderError } from '../errors.js';
import { drainBody, readBody } from '../http/body.js';
import { decodePathSegment } from '../http/path.js';
import { sendError, sendJson } from '../http/respond.js';
import { authenticateCaller } from '../pipeline/auth.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import { withTarget } from './admit.js';
import { attributeBatch } from './attribution.js';
import { decodeId, rawIdOk } from './ids.js';
import { chooseTarget, requestHint } from './target.js';
import { runUpload } from './upload.js';
import { type JobCall, runJobCall } from './upstream.js';

type Method = 'GET' | 'POST' | 'DELETE';

/** What a path names: the collection, and the id and sub-resource when there is one. */
interface Op {
  /** Upstream collection path: `/files`, `/batches`, `/fine_tuning/jobs`. */
  readonly collection: string;
  readonly id: string | undefined;
  readonly sub: string | undefined;
}

const COLLECTIONS = ['/files', '/batches', '/fine_tuning/jobs'] as const;

/** Methods per collection shape; `:id/<sub>` keys the sub-resources. */
const METHODS: Readonly<Record<string, Readonly<Record<string, readonly Method[]>>>> = {
  '/files': { '': ['GET', 'POST'], ':id': ['GET', 'DELETE'], ':id/content': ['GET'] },
  '/batches': { '': ['GET', 'POST'], ':id': ['GET'], ':id/cancel': ['POST'] },
  '/fine_tuning/jobs': {
    '': ['GET', 'POST'],
    ':id': ['GET'],
    ':id/cancel': ['POST'],
    ':id/pause': ['POST'],
    ':id/resume': ['POST'],
    ':id/events': ['GET'],
    ':id/checkpoints': ['GET'],
  },
};

/** Sub-resources that are lists under an id: paginated by the forwarded query, relayed as they are. */
const ID_LISTS: ReadonlySet<string | undefined> = new Set(['events', 'checkpoints']);

function parseOp(path: string): Op | undefined {
  const rest = path.slice('/v1'.length);
  for (const c of COLLECTIONS) {
    if (rest === c) return { collection: c, id: undefined, sub: undefined };
    if (!rest.startsWith(`${c}/`)) continue;
    const tail = rest.slice(c.length + 1);
    const slash = tail.indexOf('/');
    const id = slash === -1 ? tail : tail.slice(0, slash);
    const sub = slash === -1 ? undefined : tail.slice(slash + 1);
    if (id === '' || sub?.includes('/') === true) return undefined;
    return { collection: c, id, sub };
  }
  return undefined;
}

const bad = (message: string) => new GatewayError(400, 'invalid_request_error', message);

export const malformedId = (raw: string) => bad(`malformed resource id ${JSON.stringify(raw.slice(0, 256))}`);

/**
 * A path or body id: its raw provider id (guarded) and the Model alias it carries, if any. Only
 * a path segment is percent-decoded; a body id is used as sent (`%` then fails the guard).
 */
export function idOf(id: string, inPath: boolean): { raw: string; alias: string | undefined } | GatewayError {
  const text = inPath ? decodePathSegment(id) : id;
  if (text === undefined) return malformedId(id);
  const d = decodeId(text);
  return rawIdOk(d.raw) ? d : malformedId(d.raw);
}

/** The client query minus the gateway's own keys (`model`, `provider`). */
function forwardedQuery(query: URLSearchParams): string {
  const q = new URLSearchParams(query);
  q.delete('model');
  q.delete('provider');
  return q.toString();
}

export async function runJobs(rt: GatewayRuntime, ctx: RequestContext): Promise<void> {
  if (rt.tracer !== undefined) ctx.trace = rt.tracer.startRequest(ctx);
  const key = await authenticateCaller(rt, ctx);
  if (!key) return;
  const op = parseOp(ctx.path);
  const shape =
    op === undefined ? undefined : op.id === undefined ? '' : op.sub === undefined ? ':id' : `:id/${op.sub}`;
  const allowed = op === undefined || shape === undefined ? undefined : METHODS[op.collection]?.[shape];
  if (op === undefined || allowed === undefined) return sendError(ctx, rt.ident, errors.notFound());
  const method = ctx.req.method as Method;
  if (!allowed.includes(method)) {
    const e = errors.methodNotAllowed();
    ctx.errorType = e.type;
    ctx.errorMessage = e.message;
    return sendJson(ctx, rt.ident, 405, renderError(e, false), { allow: allowed.join(', ') });
  }
  const url = ctx.req.url ?? '';
  const q = url.indexOf('?');
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  const explicit = requestHint(ctx, query);
  if (op.id === undefined) {
    if (method === 'GET') {
      return withTarget(
        rt,
        ctx,
        () => chooseTarget(rt, ctx, undefined, explicit),
        async (t, guards) => {
          await runJobCall(rt, ctx, t, {
            method,
            path: op.collection,
            query: forwardedQuery(query),
            contentType: '',
            rewrite: false,
            outputGuards: guards.output,
          });
        },
      );
    }
    if (op.collection === '/files') return runUpload(rt, ctx, explicit);
    return runCreate(rt, ctx, op.collection, explicit);
  }
  const id = idOf(op.id, true);
  if (id instanceof GatewayError) return sendError(ctx, rt.ident, id);
  // No body on these routes is forwarded; one sent anyway is discarded.
  drainBody(ctx.req);
  const path = `${op.collection}/${id.raw}${op.sub === undefined ? '' : `/${op.sub}`}`;
  const call: JobCall = {
    method,
    path,
    // Only the lists under an id take a query (pagination); other id routes forward none.
    query: ID_LISTS.has(op.sub) ? forwardedQuery(query) : '',
    contentType: '',
    // Content bytes and lists are relayed as they are.
    rewrite: op.sub !== 'content' && !ID_LISTS.has(op.sub),
  };
  return withTarget(
    rt,
    ctx,
    () => chooseTarget(rt, ctx, id.alias, explicit),
    async (t, guards) => {
      const relayed = await runJobCall(rt, ctx, t, { ...call, outputGuards: guards.output });
      if (relayed !== undefined && op.collection === '/batches' && op.sub === undefined)
        attributeBatch(rt, ctx, t, relayed);
    },
  );
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `POST /v1/batches`, `POST /v1/fine_tuning/jobs`: a JSON body whose file ids are rewritten. */
async function runCreate(
  rt: GatewayRuntime,
  ctx: RequestContext,
  collection: string,
  explicit: string | undefined,
): Promise<void> {
  let raw: Buffer;
  try {
    raw = await readBody(ctx.req, rt.settings.bodyLimit, rt.bodyIdleMs);
  } catch (e) {
    const err = e as GatewayError;
    sendError(ctx, rt.ident, err);
    if (err.status !== 408) drainBody(ctx.req);
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return sendError(ctx, rt.ident, errors.badBody('malformed JSON'));
  }
  if (nestedTooDeep(body)) return sendError(ctx, rt.ident, errors.badBody(NESTED_TOO_DEEP));
  if (!isObject(body)) return sendError(ctx, rt.ident, errors.badBody('the body must be a JSON object'));
  const batch = collection === '/batches';
  const field = batch ? 'input_file_id' : 'training_file';
  const fileId = body[field];
  if (typeof fileId !== 'string' || fileId === '')
    return sendError(ctx, rt.ident, errors.badBody(`\`${field}\` must be a non-empty string`));
  const file = idOf(fileId, false);
  if (file instanceof GatewayError) return sendError(ctx, rt.ident, file);
  const out: Record<string, unknown> = { ...body, [field]: file.raw };
  delete out.provider;
  let hint = explicit;
  if (batch) {
    // The batch's models live in its JSONL; `model` here is only a routing hint.
    if (typeof body.model === 'string' && body.model.trim() !== '') hint = body.model.trim();
    delete out.model;
  } else if (typeof body.validation_file === 'string' && body.validation_file !== '') {
    const v = idOf(body.validation_file, false);
    if (v instanceof GatewayError) return sendError(ctx, rt.ident, v);
    out.validation_file = v.raw;
  }
  const text = JSON.stringify(out);
  return withTarget(
    rt,
    ctx,
    () => chooseTarget(rt, ctx, file.alias, hint),
    async (t, guards) => {
      await runJobCall(rt, ctx, t, {
        method: 'POST',
        path: collection,
        query: '',
        contentType: 'application/json',
        body: text,
        rewrite: true,
        outputGuards: guards.output,
      });
    },
    text,
  );
}
