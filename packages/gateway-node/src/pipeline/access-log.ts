/**
 * The access-log line writer (data-plane §12.1). The line has a fixed schema and no field that
 * needs redaction, so it is rendered here with one `JSON.stringify` and handed straight to the
 * logger's destination, framed exactly like a pino `info` line (`level`, `time`, the logger's
 * bindings, the fields, `msg`). That skips pino's per-key serializer and redaction walk, which
 * cost about as much as the rest of the completion hook together under load.
 *
 * Used only when it renders the very same line as pino: at first use a probe object is rendered
 * both ways and compared (level/bindings formatters, message key, prefix, line ending). Mixins,
 * `streamWrite` hooks, multistream metadata or anything that is not a plain pino instance fall
 * back to `logger.info`. Redaction is skipped on purpose: the fields are fixed and hold no
 * credentials (ids, names, counts, catalogue error text).
 */
import { type Logger, pino } from 'pino';

export type AccessLogWrite = (fields: object, msg: string) => void;

interface PinoInternals {
  [key: symbol]: unknown;
}

const cache = new WeakMap<Logger, AccessLogWrite>();

function render(head: string, time: string, bind: string, fields: object, msg: string): string {
  const body = JSON.stringify(fields);
  return `${head}${time}${bind}${body.length > 2 ? `,${body.slice(1, -1)}` : ''},"msg":${JSON.stringify(msg)}}\n`;
}

function build(logger: Logger): AccessLogWrite {
  const slow: AccessLogWrite = (fields, msg) => logger.info(fields, msg);
  const p = logger as unknown as PinoInternals;
  const s = pino.symbols;
  const stream = p[s.streamSym] as ({ write?: (line: string) => unknown } & PinoInternals) | undefined;
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
  // Same line as pino's own renderer for a probe (formatters, message key, prefix, line end)?
  const t = (time as () => string).call(logger);
  const probe = { probe_a: 1, probe_b: 'x' };
  const expected = (asJson as (o: object, m: string, n: number, t: string) => string).call(
    logger,
    probe,
    'probe',
    level,
    t,
  );
  if (expected !== render(head, t, p[s.chindingsSym] as string, probe, 'probe')) return slow;
  const dest = stream as { write: (line: string) => unknown };
  const now = time as () => string;
  return (fields, msg) => {
    if (!logger.isLevelEnabled('info')) return;
    dest.write(render(head, now.call(logger), p[s.chindingsSym] as string, fields, msg));
  };
}

/** The writer for `logger`, built once per logger. */
export function accessLogWriter(logger: Logger): AccessLogWrite {
  let w = cache.get(logger);
  if (w === undefined) {
    w = build(logger);
    cache.set(logger, w);
  }
  return w;
}
