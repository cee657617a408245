/**
 * `POST /v1/files`: the caller's multipart body, streamed upstream as it arrives. Parts before
 * the file are held (text fields are small); when the file part starts the target is chosen
 * (multipart `model`, then `?model=`, then `x-aisix-model`, then the default), the quota is
 * checked and the upstream call starts with a rebuilt body: every text part except `model`,
 * then the file with its filename and content type, then the parts after it. File bytes go on
 * with backpressure and are never held whole; the body cap is counted as they pass. While an
 * input guardrail applies, the file's text is also kept for the scan, up to `heldLimit` (413).
 *
 * A `model` part after the file is refused (400): the file is already on its way to the Model
 * chosen without it. Any refusal after the upstream call started aborts it, so the upstream
 * never sees a complete body.
 */
import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { errors, GatewayError } from '../errors.js';
import type { CompiledGuardrail } from '../guardrails/compile.js';
import { type DrainOutcome, drainBody } from '../http/body.js';
import { multipartBoundary } from '../http/multipart.js';
import {
  MultipartEncoder,
  MultipartError,
  MultipartParser,
  type PartEvent,
} from '../http/multipart-stream.js';
import { sendError } from '../http/respond.js';
import type { RequestContext } from '../pipeline/context.js';
import type { GatewayRuntime } from '../runtime.js';
import { withTarget } from './admit.js';
import { heldLimit, type JobGuards, scan } from './guard.js';
import { chooseTarget, type JobTarget } from './target.js';
import { runJobCall } from './upstream.js';

/** Resolves false once the upstream call has ended (never, while there is none). */
function ended(call: Promise<void> | undefined): Promise<false> {
  return call === undefined
    ? new Promise<false>(() => undefined)
    : call.then(
        () => false,
        () => false,
      );
}

/**
 * Discards the rest of the body (bounded, `drainBody`) after the iterator lets go of the stream:
 * while its `readable` listener is attached the stream cannot flow, and the drain would stall
 * until its deadline resets the connection.
 */
async function discardRest(
  ctx: RequestContext,
  chunks: AsyncIterator<unknown>,
  onDone?: (o: DrainOutcome) => void,
): Promise<void> {
  await chunks.return?.();
  drainBody(ctx.req, onDone);
}

/** The next body chunk, or the 408 when none arrives for `idleMs` (slow-loris guard). */
async function nextChunk(chunks: AsyncIterator<unknown>, idleMs: number): Promise<IteratorResult<unknown>> {
  if (idleMs <= 0) return chunks.next();
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Refusal(errors.bodyTimeout())), idleMs);
  });
  try {
    return await Promise.race([chunks.next(), idle]);
  } finally {
    clearTimeout(timer);
  }
}

/** `onEvent`'s signal that the file part ended (its closing bytes are not written yet). */
const FILE_END = Symbol('file-end');

/** Text parts are form fields (`purpose`, `expires_after[...]`), never large. */
const MAX_TEXT_PART = 64 * 1024;
/** All text parts held before the file: bounded even when no body cap is configured. */
const MAX_HELD = 1024 * 1024;

const bad = (message: string) => new GatewayError(400, 'invalid_request_error', message);

interface Upload {
  /** Text fields seen before the file part (`model` apart), and their total size. */
  readonly fields: [string, string][];
  held: number;
  model: string | undefined;
  /** The part being read: a text field collecting, or the file streaming. */
  current: { name: string; text: Buffer[] | undefined; size: number } | undefined;
  sawFile: boolean;
  /** Set once the upstream call started. */
  out: PassThrough | undefined;
  /** Input guardrails of the target; when any, the file's text is kept for the scan. */
  guards: readonly CompiledGuardrail[];
  decoder: StringDecoder | undefined;
  text: string[];
  /** File bytes kept for the scan, and the most that may be (`heldLimit`). */
  textBytes: number;
  textMax: number;
}

/** Ends the body read with a refusal (the request stays open for the answer). */
class Refusal extends Error {
  constructor(readonly error: GatewayError) {
    super(error.message);
  }
}

export async function runUpload(
  rt: GatewayRuntime,
  ctx: RequestContext,
  explicit: string | undefined,
): Promise<void> {
  const boundary = multipartBoundary(ctx.req.headers['content-type']);
  if (boundary === undefined) {
    sendError(ctx, rt.ident, bad('invalid multipart form data'));
    return drainBody(ctx.req);
  }
  const parser = new MultipartParser(boundary);
  const enc = new MultipartEncoder();
  const up: Upload = {
    fields: [],
    held: 0,
    model: undefined,
    current: undefined,
    sawFile: false,
    out: undefined,
    guards: [],
    decoder: undefined,
    text: [],
    textBytes: 0,
    textMax: 0,
  };
  const abort = new AbortController();
  let call: Promise<void> | undefined;
  // A failure of the call itself (a bug, not the body) is rethrown after the body is settled.
  let callFailed: { readonly err: unknown } | undefined;
  let started: (() => void) | undefined;
  /** The call ended: before the body did, it means the upstream answered early. */
  let callDone = false;
  const limit = rt.settings.bodyLimit;
  let size = 0;
  // Leaving early (a refusal) must not destroy the request: the answer still goes out.
  const chunks = ctx.req.iterator({ destroyOnReturn: false });
  try {
    for (;;) {
      const next = await nextChunk(chunks, rt.bodyIdleMs);
      if (next.done === true) break;
      if (callDone) {
        await discardRest(ctx, chunks);
        return;
      }
      const c = next.value as Buffer;
      size += c.length;
      if (limit > 0 && size > limit) throw new Refusal(errors.bodyTooLarge(limit));
      for (const ev of parser.push(c)) {
        const start = onEvent(up, enc, ev);
        if (start === FILE_END) {
          // The file is complete upstream but for its closing bytes: the input scan decides.
          if (up.decoder !== undefined) {
            up.text.push(up.decoder.end());
            const blocked = await scan(rt, ctx, up.guards, up.text.join(''), 'input');
            up.text = [];
            if (blocked !== undefined) throw new Refusal(blocked);
          }
          up.out?.write(enc.fileEnd());
        } else if (start !== undefined) {
          // The file part begins: target, quota, then the upstream call, fed from `up.out`.
          const out = new PassThrough();
          // The call reports its own failures; a write after it ended must not throw unheard.
          out.on('error', () => undefined);
          up.out = out;
          out.write(start);
          const ready = new Promise<boolean>((resolve) => {
            started = () => resolve(true);
            call = withTarget(
              rt,
              ctx,
              () => chooseTarget(rt, ctx, undefined, up.model ?? explicit),
              async (t: JobTarget, guards: JobGuards) => {
                if (guards.input.length > 0) {
                  up.guards = guards.input;
                  up.decoder = new StringDecoder('utf8');
                  up.textMax = heldLimit(rt);
                }
                started?.();
                await runJobCall(rt, ctx, t, {
                  method: 'POST',
                  path: '/files',
                  query: '',
                  contentType: enc.contentType,
                  body: out,
                  rewrite: true,
                  signal: abort.signal,
                  outputGuards: guards.output,
                });
              },
            )
              .catch((err: unknown) => {
                callFailed = { err };
              })
              .finally(() => {
                callDone = true;
                resolve(false);
              });
          });
          // Refused before the call (target, quota): the answer is out; stop reading.
          if (!(await ready)) {
            out.destroy();
            await discardRest(ctx, chunks);
            return;
          }
        }
      }
      const out = up.out;
      if (out?.writableNeedDrain) {
        // The upstream may answer (and stop reading) before the body ends: then stop too.
        const drained = await Promise.race([once(out, 'drain').then(() => true), ended(call)]);
        if (!drained) {
          await discardRest(ctx, chunks);
          return;
        }
      }
    }
    parser.end();
    if (!up.sawFile) throw new Refusal(bad('multipart body must include a `file` field'));
    up.out?.end(enc.close());
    await call;
  } catch (e) {
    const err =
      e instanceof Refusal
        ? e.error
        : e instanceof MultipartError
          ? bad(`invalid multipart form data: ${e.message}`)
          : errors.bodyReadFailed();
    abort.abort(err);
    up.out?.destroy();
    await call?.catch(() => undefined);
    sendError(ctx, rt.ident, err);
    // A 408 closes the connection (a read is still pending); otherwise the rest is discarded.
    if (err.status !== 408)
      await discardRest(
        ctx,
        chunks,
        err.status === 413 ? (o) => rt.metrics.bodyLimitRejected(ctx.endpoint, o) : undefined,
      );
  }
  if (callFailed !== undefined) throw callFailed.err;
}

/**
 * Applies one parser event. Returns the bytes that open the upstream body when the file part
 * starts (the fields held so far and the file head), `FILE_END` when the file part ended (the
 * caller scans, then writes its closing bytes), else undefined. File bytes and the parts after
 * the file are written to `up.out` here.
 */
function onEvent(up: Upload, enc: MultipartEncoder, ev: PartEvent): Buffer | typeof FILE_END | undefined {
  switch (ev.type) {
    case 'part': {
      const h = ev.head;
      // The part named `file` is the file, with or without a filename (default `file`).
      if (h.name === 'file') {
        if (up.sawFile) throw new Refusal(bad('multipart body must include exactly one `file` field'));
        up.sawFile = true;
        up.current = { name: 'file', text: undefined, size: 0 };
        const head = enc.fileHead('file', h.filename || 'file', h.contentType);
        const fields = up.fields.map(([n, v]) => enc.field(n, v));
        return Buffer.concat([...fields, head]);
      }
      if (h.name === 'model' && up.sawFile)
        throw new Refusal(bad('the multipart `model` field must come before `file`'));
      up.current = { name: h.name, text: [], size: 0 };
      return undefined;
    }
    case 'data': {
      const cur = up.current;
      if (cur === undefined) return undefined;
      if (cur.text === undefined) {
        if (up.decoder !== undefined) {
          // Held for the scan: bounded even when no body cap is configured (never sent unscanned).
          up.textBytes += ev.bytes.length;
          if (up.textBytes > up.textMax)
            throw new Refusal(
              new GatewayError(
                413,
                'invalid_request_error',
                `the file exceeds ${up.textMax} bytes, the most the gateway holds to scan it with input guardrails`,
              ),
            );
          up.text.push(up.decoder.write(ev.bytes));
        }
        up.out?.write(ev.bytes);
        return undefined;
      }
      cur.size += ev.bytes.length;
      if (cur.size > MAX_TEXT_PART)
        throw new Refusal(bad(`multipart field ${JSON.stringify(cur.name.slice(0, 64))} is too large`));
      cur.text.push(ev.bytes);
      return undefined;
    }
    case 'part_end': {
      const cur = up.current;
      up.current = undefined;
      if (cur === undefined) return undefined;
      if (cur.text === undefined) return FILE_END;
      const v = Buffer.concat(cur.text);
      if (!isUtf8(v))
        throw new Refusal(bad(`multipart field ${JSON.stringify(cur.name.slice(0, 64))} is not valid UTF-8`));
      const value = v.toString('utf8');
      if (cur.name === 'model') up.model = value.trim() === '' ? undefined : value.trim();
      else if (up.out !== undefined) up.out.write(enc.field(cur.name, value));
      else {
        up.held += v.length;
        if (up.held > MAX_HELD) throw new Refusal(bad('too many multipart fields before `file`'));
        up.fields.push([cur.name, value]);
      }
      return undefined;
    }
  }
}
