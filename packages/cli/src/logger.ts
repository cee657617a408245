/**
 * The process logger (pino, JSON lines on stdout). The level is `observability.log_level`
 * after `LOG_LEVEL` from the environment was applied by the config loader. Credentials are
 * redacted by path as a second line of defence: the packages never log them on purpose.
 *
 * The destination is asynchronous (sonic-boom, `sync: false`): a line is appended to an
 * in-memory buffer and written while the event loop moves on, and lines that arrive while a
 * write is in flight leave together in the next one. Under load that turns one `write(2)` per
 * access-log line into one per batch, and a slow disk or pipe no longer stalls requests. At
 * idle a line is written at once (no minimum batch size). pino flushes the buffer
 * synchronously on process exit. The buffer is capped (`maxLength`): past it lines are
 * dropped rather than growing the heap without bound when stdout cannot keep up.
 * It holds bytes (sonic-boom's `buffer` mode): the access log's batches arrive as the UTF-8 they
 * were rendered into (`writeBytes`) and are written as they are; pino's own lines are encoded
 * once on the way in.
 *
 * `observability.log_format: pretty` (or `auto` on a terminal) renders each line for a person
 * with pino-pretty's own prettifier, written synchronously: it is for a terminal, not for
 * throughput. Access-log lines become one line (`POST /v1/chat/completions 200 12ms` and the
 * fields that are set) instead of sixteen.
 */
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { LogFormat, LogLevel } from '@aisix/core';
import { ACCESS_LOG_MESSAGE, type ByteDestination, flushAccessLogs } from '@aisix/gateway-node';
import { type DestinationStream, type Logger, pino } from 'pino';
import type PinoPrettyModule from 'pino-pretty';

/** pino-pretty (~1 MB of heap) is for a terminal: loaded only when a pretty logger is made. */
const pinoPretty = (): typeof PinoPrettyModule =>
  createRequire(import.meta.url)('pino-pretty') as typeof PinoPrettyModule;

/** Log bytes held while stdout is busy; beyond this, lines are dropped. */
const MAX_BUFFERED_LOG_BYTES = 64 * 1024 * 1024;

export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'authorization',
  'admin_keys',
  'admin.admin_keys',
  'config.admin.admin_keys',
  'api_key',
  '*.api_key',
  'password',
  '*.password',
  'secret',
  '*.secret',
];

/** `auto` is pretty exactly when stdout is a terminal. */
export function resolveLogFormat(format: LogFormat, stdoutIsTty: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (stdoutIsTty ? 'pretty' : 'json') : format;
}

/** Access-log fields kept on the pretty line when set (the rest are in the summary). */
const ACCESS_EXTRAS = [
  'model',
  'provider',
  'served_by_model',
  'api_key_id',
  'total_tokens',
  'request_id',
  'error_kind',
  'error',
] as const;

/** An access-log line as one readable line; any other line unchanged. */
export function condenseAccessLine(line: Record<string, unknown>): Record<string, unknown> {
  if (line.msg !== ACCESS_LOG_MESSAGE) return line;
  const out: Record<string, unknown> = {
    level: line.level,
    time: line.time,
    pid: line.pid,
    role: line.role,
    msg: `${line.method} ${line.path} ${line.status} ${line.latency_ms}ms`,
  };
  if (line.worker !== undefined) out.worker = line.worker;
  for (const k of ACCESS_EXTRAS) {
    const v = line[k];
    if (v !== null && v !== undefined) out[k] = v;
  }
  return out;
}

/** A pino destination that prettifies each JSON line and writes it to `fd` synchronously. */
export function prettyDestination(fd: number, colorize: boolean): DestinationStream {
  const prettify = pinoPretty().prettyFactory({
    colorize,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return {
    write(chunk: string) {
      // pino hands over whole lines; the access-log writer may batch several in one chunk.
      let out = '';
      for (const text of chunk.split('\n')) {
        if (text === '') continue;
        let line: unknown;
        try {
          line = JSON.parse(text);
        } catch {
          out += `${text}\n`;
          continue;
        }
        out += prettify(
          line !== null && typeof line === 'object'
            ? condenseAccessLine(line as Record<string, unknown>)
            : text,
        );
      }
      if (out !== '') writeSync(fd, out);
    },
  };
}

export function createLogger(
  level: LogLevel,
  bindings: Record<string, unknown> = {},
  format: LogFormat = 'json',
): Logger {
  const options = {
    level,
    base: { pid: process.pid, ...bindings },
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const tty = process.stdout.isTTY === true;
  if (resolveLogFormat(format, tty) === 'pretty') {
    return pino(options, prettyDestination(1, tty && pinoPretty().isColorSupported));
  }
  return pino(options, stdoutBytes());
}

/**
 * stdout as a `ByteDestination`: pino's asynchronous destination (its exit flush and broken-pipe
 * handling included) in sonic-boom's `buffer` mode, which writes the buffers it is given without
 * copying them; pino's lines and the access log's batches share its one queue, in order.
 * `flush(cb)` calls back once everything handed over so far has been written (sonic-boom's own
 * `flush` does not wait when nothing sets a minimum write size).
 */
function stdoutBytes(): ByteDestination & DestinationStream & { flush(cb?: (err?: Error) => unknown): void } {
  const sb = pino.destination({
    dest: 1,
    sync: false,
    maxLength: MAX_BUFFERED_LOG_BYTES,
    contentMode: 'buffer',
  });
  /** Bytes handed over and not yet written (nor dropped), and who waits for them. */
  let unwritten = 0;
  let waiters: (() => void)[] = [];
  const settled = (n: number) => {
    unwritten = Math.max(0, unwritten - n);
    if (unwritten > 0 || waiters.length === 0) return;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  sb.on('write', settled);
  sb.on('drop', (b: Buffer) => settled(b.length));
  // sonic-boom's types declare string writes only; in buffer mode `write` takes a Buffer.
  // Looked up per call: on a broken pipe pino swaps it for a no-op.
  const writeBuffer = (b: Buffer): unknown => {
    unwritten += b.length;
    return Reflect.apply(sb.write, sb, [b]);
  };
  return {
    write: (line: string) => writeBuffer(Buffer.from(line)),
    writeBytes: writeBuffer,
    flush: (cb?: (err?: Error) => unknown) => {
      if (unwritten === 0) cb?.();
      else if (cb) waiters.push(() => cb());
    },
    flushSync: () => sb.flushSync(),
  };
}

/**
 * Writes out what the logger holds before a clean exit: waiting access lines are handed to the
 * destination, then its queue drains, for at most `timeoutMs` (a stdout nobody reads must not
 * hold the exit). Needed because the exit-time synchronous flush cannot see a write the
 * asynchronous destination has in flight: with stdout a full pipe, such a write was lost.
 */
export function closeLogger(logger: Logger, timeoutMs = 2000): Promise<void> {
  flushAccessLogs();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
