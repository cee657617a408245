/**
 * The access-log line writer (data-plane §12.1). The line has a fixed schema and no field that
 * needs redaction, so it is rendered here by hand and handed straight to the logger's
 * destination, framed exactly like a pino `info` line (`level`, `time`, the logger's bindings,
 * the fields, `msg`). That skips pino's object serializer and redaction walk.
 *
 * Lines are batched: they wait as the line objects they were given, and at most
 * `FLUSH_DELAY_MS` after the first one, or once `FLUSH_LINES` wait, they are rendered one after
 * the other into a buffer that leaves in one destination write per `FLUSH_BYTES`. Each write of
 * the asynchronous destination is a `write(2)` on a thread-pool thread that competes with the
 * event loop for the same core, so a busy gateway pays for one per hundred lines instead of one
 * per request. Rendering the lines together, rather than each between two requests when the
 * caches hold the requests' data, measured 2-3.5 µs less per request under load
 * (bench/README.md). The time on a line is the time it was given. What is pending when the
 * process exits is written synchronously.
 *
 * A destination with `writeBytes` (the CLI's stdout, see `ByteDestination`) gets each batch as
 * the UTF-8 bytes it was rendered into. Handing it over as a string meant decoding the batch,
 * which the destination then measured, encoded for the write and encoded once more after it.
 *
 * Used only when it renders the very same line as pino: at first use a probe line is rendered
 * both ways and compared (level/bindings formatters, message key, prefix, line ending). Mixins,
 * `streamWrite` hooks, multistream metadata or anything that is not a plain pino instance fall
 * back to `logger.info`, one call per line. Redaction is skipped on purpose: the fields are
 * fixed and hold no credentials (ids, names, counts, catalogue error text).
 */
import { type Logger, pino } from 'pino';
import { jsonNumber, jsonQuote } from '../json-text.js';

/** The access-log fields, in the order they appear on the line. */
export interface AccessLine {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly latency_ms: number;
  readonly provider: string | null;
  readonly model: string | null;
  readonly api_key_id: string | null;
  readonly prompt_tokens: number | null;
  readonly completion_tokens: number | null;
  readonly total_tokens: number | null;
  readonly request_id: string;
  readonly served_by_model: string | null;
  readonly routing_attempt_count: number;
  readonly routing_fallback_count: number;
  readonly error_kind: string | null;
  readonly error: string | null;
  /** Time in upstream attempts (null: no attempt was made). */
  readonly upstream_latency_ms: number | null;
  /** The rest of `latency_ms`: the gateway's own time. */
  readonly gateway_latency_ms: number | null;
  /** Time to first token of a stream. */
  readonly ttft_ms: number | null;
  /** Token counts include local estimates (the upstream reported none). */
  readonly usage_estimated: boolean;
}

export const ACCESS_LOG_MESSAGE = 'proxy request completed';

/** Longest a line waits, and the most bytes handed to the destination in one write. */
export const FLUSH_DELAY_MS = 20;
export const FLUSH_BYTES = 64 * 1024;
/** Lines that, once waiting, are rendered and sent at once instead of after the delay. */
export const FLUSH_LINES = 128;

export type AccessLogWrite = (line: AccessLine) => void;

interface PinoInternals {
  [key: symbol]: unknown;
}

function str(v: string | null | undefined): string {
  return v === null || v === undefined ? 'null' : jsonQuote(v);
}

function num(v: number | null): string {
  return v === null ? 'null' : jsonNumber(v);
}

/** The fields as `JSON.stringify(line)` renders them, without the braces. */
function renderFields(l: AccessLine): string {
  return (
    `"method":${str(l.method)},"path":${str(l.path)},"status":${num(l.status)},` +
    `"latency_ms":${num(l.latency_ms)},"provider":${str(l.provider)},"model":${str(l.model)},` +
    `"api_key_id":${str(l.api_key_id)},"prompt_tokens":${num(l.prompt_tokens)},` +
    `"completion_tokens":${num(l.completion_tokens)},"total_tokens":${num(l.total_tokens)},` +
    `"request_id":${str(l.request_id)},"served_by_model":${str(l.served_by_model)},` +
    `"routing_attempt_count":${num(l.routing_attempt_count)},` +
    `"routing_fallback_count":${num(l.routing_fallback_count)},` +
    `"error_kind":${str(l.error_kind)},"error":${str(l.error)},` +
    `"upstream_latency_ms":${num(l.upstream_latency_ms)},"gateway_latency_ms":${num(l.gateway_latency_ms)},` +
    `"ttft_ms":${num(l.ttft_ms)},"usage_estimated":${l.usage_estimated === true}`
  );
}

/** `pino.stdTimeFunctions.isoTime`, rendered once per millisecond. */
function cachedIsoTime(): () => string {
  let ms = -1;
  let text = '';
  return () => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      text = `,"time":"${new Date(now).toISOString()}"`;
    }
    return text;
  };
}

const PROBE: AccessLine = {
  method: 'POST',
  path: '/probe/"\\\n\u2028',
  status: 200,
  latency_ms: 1.5,
  provider: null,
  // No lone surrogate here: pino escapes them only when redaction is configured.
  model: 'm\u00e9',
  api_key_id: null,
  prompt_tokens: 1,
  completion_tokens: null,
  total_tokens: Number.NaN,
  request_id: 'r',
  served_by_model: null,
  routing_attempt_count: 1,
  routing_fallback_count: 0,
  error_kind: null,
  error: 'é',
  upstream_latency_ms: 0.25,
  gateway_latency_ms: null,
  ttft_ms: 3,
  usage_estimated: false,
};

interface Destination {
  write(chunk: string): unknown;
  writeBytes?: (chunk: Buffer) => unknown;
  flushSync?: () => void;
}

/**
 * A log destination that also takes bytes. It owns the buffer it is given (it may hold it until
 * written) and keeps the order of everything written to it, strings and bytes alike.
 */
export interface ByteDestination extends Destination {
  writeBytes(chunk: Buffer): unknown;
}

/** A writer holding lines not yet handed to its destination: `flush` hands them over now. */
interface Unflushed {
  flush(): void;
  readonly stream: Destination;
}

/** Writers with lines waiting; written out (synchronously) if the process exits. */
const unflushed = new Set<Unflushed>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const w of [...unflushed]) {
      w.flush();
      try {
        w.stream.flushSync?.();
      } catch {
        // The destination is gone or not open: nothing more can be done at exit.
      }
    }
  });
}

/**
 * Hands every waiting access line to its logger's destination now, instead of after the batch
 * delay. A clean shutdown calls it before waiting for the destination to drain.
 */
export function flushAccessLogs(): void {
  for (const w of [...unflushed]) w.flush();
}

function build(logger: Logger): AccessLogWrite {
  const slow: AccessLogWrite = (line) => logger.info(line, ACCESS_LOG_MESSAGE);
  const p = logger as unknown as PinoInternals;
  const s = pino.symbols;
  const stream = p[s.streamSym] as (Destination & PinoInternals) | undefined;
  const time = p[s.timeSym];
  const asJson = p[s.asJsonSym];
  const level = logger.levels?.values?.info;
  if (
    stream === undefined ||
    typeof stream.write !== 'function' ||
    typeof time !== 'function' ||
    typeof asJson !== 'function' ||
    typeof level !== 'number' ||
    typeof p[s.chindingsSym] !== 'string' ||
    // Applied outside the line renderer: leave them to pino.
    p[s.mixinSym] !== undefined ||
    (p[s.hooksSym] as { streamWrite?: unknown } | undefined)?.streamWrite !== undefined ||
    stream[s.needsMetadataGsym] === true
  )
    return slow;
  const head = `{"level":${level}`;
  const tail = `,"msg":${JSON.stringify(ACCESS_LOG_MESSAGE)}}\n`;
  const render = (t: string, line: AccessLine) =>
    `${head}${t}${p[s.chindingsSym] as string},${renderFields(line)}${tail}`;
  // Same line as pino's own renderer for a probe (formatters, message key, prefix, line end)?
  const t = (time as () => string).call(logger);
  const expected = (asJson as (o: object, m: string, n: number, t: string) => string).call(
    logger,
    PROBE,
    ACCESS_LOG_MESSAGE,
    level,
    t,
  );
  if (expected !== render(t, PROBE)) return slow;
  const now =
    time === pino.stdTimeFunctions.isoTime ? cachedIsoTime() : () => (time as () => string).call(logger);

  installExitHook();
  // Rendered lines go straight into one off-heap buffer: a batch held for a few milliseconds as
  // a JS string would survive young-generation collections and be copied by each of them. What
  // waits before rendering is the line objects, a few hundred bytes each.
  const batch = Buffer.allocUnsafeSlow(FLUSH_BYTES);
  const writeBytes = typeof stream.writeBytes === 'function' ? stream.writeBytes : undefined;
  let used = 0;
  let timer: NodeJS.Timeout | undefined;
  /** Lines given and not yet rendered, and the time of each. */
  const lines: AccessLine[] = [];
  const times: string[] = [];
  const handOver = () => {
    if (used === 0) return;
    // The batch buffer is reused at once: the destination gets a copy it can keep.
    if (writeBytes !== undefined) writeBytes.call(stream, Buffer.from(batch.subarray(0, used)));
    else stream.write(batch.toString('utf8', 0, used));
    used = 0;
  };
  const flush = () => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (lines.length === 0) return;
    unflushed.delete(waiting);
    for (let i = 0; i < lines.length; i++) {
      const text = render(times[i] as string, lines[i] as AccessLine);
      // At most 3 UTF-8 bytes per UTF-16 unit: hand the batch over first when the line might not fit.
      if (used + text.length * 3 > FLUSH_BYTES) {
        handOver();
        if (text.length * 3 > FLUSH_BYTES) {
          stream.write(text);
          continue;
        }
      }
      used += batch.write(text, used, 'utf8');
    }
    lines.length = 0;
    times.length = 0;
    handOver();
  };
  const waiting: Unflushed = { flush, stream };
  return (line) => {
    if (!logger.isLevelEnabled('info')) return;
    lines.push(line);
    times.push(now());
    if (lines.length >= FLUSH_LINES) flush();
    else if (timer === undefined) {
      unflushed.add(waiting);
      timer = setTimeout(flush, FLUSH_DELAY_MS);
      // Never what keeps the process alive; the exit hook writes what is left.
      timer.unref();
    }
  };
}

const cache = new WeakMap<Logger, AccessLogWrite>();

/** The writer for `logger`, built once per logger. */
export function accessLogWriter(logger: Logger): AccessLogWrite {
  let w = cache.get(logger);
  if (w === undefined) {
    w = build(logger);
    cache.set(logger, w);
  }
  return w;
}
