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
 */
import type { LogLevel } from '@aisix/core';
import { type Logger, pino } from 'pino';

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

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 1, sync: false, maxLength: MAX_BUFFERED_LOG_BYTES }),
  );
}
