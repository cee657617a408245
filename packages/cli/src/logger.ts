/**
 * The process logger (pino, JSON lines on stdout). The level is `observability.log_level`
 * after `LOG_LEVEL` from the environment was applied by the config loader. Credentials are
 * redacted by path as a second line of defence: the packages never log them on purpose.
 */
import type { LogLevel } from '@aisix/core';
import { type Logger, pino } from 'pino';

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
    pino.destination({ dest: 1, sync: true }),
  );
}
