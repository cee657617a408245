/**
 * `redisCall`: one command over a fresh TCP connection, for the launchers' readiness checks
 * (`CLUSTER INFO`, `SENTINEL get-master-addr-by-name`, `INFO replication`) and for tests that
 * poke a server behind the client's back (`SCRIPT FLUSH`). testkit has no Redis client
 * dependency, so this speaks just enough RESP2: simple strings, errors, integers, bulk strings,
 * arrays. Plaintext only, one command (after an optional AUTH) per connection.
 */
import { createConnection } from 'node:net';

export type RespValue = string | number | null | RespValue[];

/** Thrown for a `-ERR ...` reply (the connection itself worked). */
export class RespError extends Error {}

/** Parses one value from `buf` at `pos`; undefined = incomplete. */
function parse(buf: Buffer, pos: number): { value: RespValue | RespError; end: number } | undefined {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (String.fromCharCode(buf[pos] ?? 0)) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      if (buf.length < next + n + 2) return undefined;
      return { value: buf.toString('utf8', next, next + n), end: next + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const out: RespValue[] = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parse(buf, at);
        if (item === undefined) return undefined;
        // A nested error (EXEC replies) is kept as its message.
        out.push(item.value instanceof RespError ? item.value.message : item.value);
        at = item.end;
      }
      return { value: out, end: at };
    }
    default:
      throw new Error(`redisCall: unexpected RESP type byte ${buf[pos]}`);
  }
}

function encode(args: readonly string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * Sends `args` to 127.0.0.1:`port` and resolves with the reply (rejects on -ERR or I/O).
 * With `password`, an `AUTH` goes first on the same connection.
 */
export function redisCall(
  port: number,
  args: readonly string[],
  timeoutMs = 2000,
  password?: string,
): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, value?: RespValue) => {
      if (done) return;
      done = true;
      s.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    s.setTimeout(timeoutMs, () => finish(new Error(`redisCall ${args[0]} on port ${port}: timed out`)));
    s.on('connect', () => s.write((password !== undefined ? encode(['AUTH', password]) : '') + encode(args)));
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      try {
        let r = parse(buf, 0);
        if (r !== undefined && password !== undefined) {
          if (r.value instanceof RespError) return finish(r.value);
          r = parse(buf, r.end);
        }
        if (r === undefined) return;
        if (r.value instanceof RespError) finish(r.value);
        else finish(undefined, r.value);
      } catch (err) {
        finish(err as Error);
      }
    });
    s.on('error', (err) => finish(err));
    s.on('close', () => finish(new Error(`redisCall ${args[0]} on port ${port}: connection closed`)));
  });
}
