/**
 * Request body reading with the size cap and a read deadline.
 *
 * - A declared `Content-Length` over the cap is refused before authentication (413); duplicate
 *   or conflicting `Content-Length` headers never get here, node's parser rejects them and the
 *   server's `clientError` hook answers 400 in our envelope.
 * - A chunked body that grows past the cap is refused while reading (413).
 * - Slow-loris: when no byte arrives for `idleMs` the read fails (408) and the socket is freed,
 *   so a trickling client cannot hold a request open.
 *
 * After a refusal the rest of the body is drained (≤ 32 MiB / 5 s) so the client can read the
 * error instead of hitting a reset mid-upload; past that the socket is destroyed. A response that
 * ended before its body was read at all gets the same bounded drain (`drainUnread`).
 */
import type { IncomingMessage } from 'node:http';
import { errors, type GatewayError } from '../errors.js';

const DRAIN_MAX_BYTES = 32 * 1024 * 1024;
const DRAIN_MAX_MS = 5000;

export type DrainOutcome = 'completed' | 'cap_reached' | 'timeout' | 'client_read_error';

/**
 * The body, taken at once when all of it is already in the request stream's buffer, else
 * undefined (still arriving: use `readBody`). The common case: a body that came with its headers
 * is buffered once the packet that carried them is parsed, which is over before the first
 * microtask after the `request` event (`packetParsed`; node marks the message complete only
 * later), so it is taken without listeners, an idle timer or a promise of its own. Known
 * complete when the parser says so or when the buffered bytes are the declared `Content-Length`
 * (the parser never buffers bytes past it). The stream is resumed so it still ends as a read one
 * does. `limit` 0 = unlimited.
 */
export function takeBufferedBody(req: IncomingMessage, limit: number): Buffer | GatewayError | undefined {
  if (req.readableEnded || req.readableFlowing === true) return undefined;
  if (!req.complete) {
    const declared = req.headers['content-length'];
    if (declared === undefined || req.readableLength !== Number(declared)) return undefined;
  }
  const b = req.read() as Buffer | null;
  req.resume();
  if (b === null) return Buffer.alloc(0);
  return limit > 0 && b.length > limit ? errors.bodyTooLarge(limit) : b;
}

/**
 * Settled from the start: awaiting it from a `request` listener resumes once the HTTP parser has
 * finished the packet that carried the headers (the `request` event is emitted from inside that
 * parse; microtasks run after it), so a body that came along is buffered by then.
 */
export const packetParsed: Promise<void> = Promise.resolve();

/**
 * Reads the whole body (at once when it is already buffered, see `takeBufferedBody`); rejects
 * with a catalogue error. `limit` 0 = unlimited.
 */
export async function readBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer> {
  let now = takeBufferedBody(req, limit);
  if (now === undefined) {
    await packetParsed;
    now = takeBufferedBody(req, limit);
  }
  if (now === undefined) return readArrivingBody(req, limit, idleMs);
  if (now instanceof Buffer) return now;
  throw now;
}

/** `readBody` for a body `takeBufferedBody` found still arriving: listeners and an idle deadline. */
export function readArrivingBody(req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    if (req.complete && req.readableEnded) {
      resolve(Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    let lastData = performance.now();
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    const fail = (e: GatewayError) => {
      cleanup();
      reject(e);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      lastData = performance.now();
      if (limit > 0 && size > limit) {
        fail(errors.bodyTooLarge(limit));
        return;
      }
      chunks.push(c);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = () => fail(errors.bodyReadFailed());
    // One timer per read, re-armed lazily from the last-data timestamp (not per chunk).
    const tick = () => {
      const idle = performance.now() - lastData;
      if (idle >= idleMs) fail(errors.bodyTimeout());
      else timer = setTimeout(tick, idleMs - idle + 1);
    };
    if (idleMs > 0) timer = setTimeout(tick, idleMs);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

/** Requests whose rest is being discarded by `drainBody`. */
const draining = new WeakSet<IncomingMessage>();

/**
 * Discards the rest of a refused body, bounded (≤ 32 MiB, ≤ `maxMs`, 5 s by default); reports how
 * the drain ended.
 */
export function drainBody(
  req: IncomingMessage,
  onDone?: (outcome: DrainOutcome) => void,
  maxMs: number = DRAIN_MAX_MS,
): void {
  if (req.readableEnded) {
    onDone?.('completed');
    return;
  }
  draining.add(req);
  let size = 0;
  let finished = false;
  const done = (o: DrainOutcome, destroy: boolean) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    req.off('data', onData);
    if (destroy) req.socket.destroy();
    onDone?.(o);
  };
  const onData = (c: Buffer) => {
    size += c.length;
    if (size > DRAIN_MAX_BYTES) done('cap_reached', true);
  };
  const timer = setTimeout(() => done('timeout', true), maxMs);
  req.on('data', onData);
  req.once('end', () => done('completed', false));
  req.once('error', () => done('client_read_error', true));
  req.resume();
}

/**
 * Once a response has ended on a connection kept alive: a body nobody read nor drained (a 404, a
 * 405 or a 401 answered before it) is discarded by node with no deadline at all (the proxy has no
 * request timeout and, by default, no keep-alive timeout), so a client that never sends the rest
 * would hold the connection forever. It is drained here instead, bounded like `drainBody`
 * (`maxMs` at most 5 s); past that the socket is closed.
 */
export function drainUnread(req: IncomingMessage, maxMs: number): void {
  if (req.complete || req.readableEnded || draining.has(req)) return;
  drainBody(req, undefined, maxMs > 0 ? Math.min(maxMs, DRAIN_MAX_MS) : DRAIN_MAX_MS);
}
