/**
 * AWS event-stream framing (`application/vnd.amazon.eventstream`), decoded incrementally from
 * arbitrary TCP chunk boundaries. One message:
 *
 *   [total length u32][headers length u32][prelude CRC32 u32][headers][payload][message CRC32 u32]
 *
 * The prelude CRC covers the first 8 bytes, the message CRC everything before it. Both are
 * checked: a corrupted frame is an error, never a half-parsed event. Header values are typed
 * (bool, byte, short, int, long, bytes, string, timestamp, uuid); Bedrock only uses strings
 * (`:message-type`, `:event-type`, `:exception-type`, `:content-type`), the rest are decoded so
 * an unexpected header does not derail the framing.
 *
 * `encodeEventStreamMessage` is the inverse, used by tests and mock servers (string headers only).
 * The event → OpenAI chunk mapping lives in converse-stream.ts.
 */
import { crc32 } from 'node:zlib';

export interface EventStreamMessage {
  readonly headers: Readonly<Record<string, string | number | boolean | Buffer>>;
  readonly payload: Buffer;
}

export class EventStreamError extends Error {}

const PRELUDE = 12;
const MIN_MESSAGE = 16;
/** Bedrock events are small; a length beyond this means we lost framing, not a real event. */
const MAX_MESSAGE = 16 * 1024 * 1024;

export class EventStreamDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** Chunks held after `buf` while the message it starts is still short of `need` bytes. */
  private more: Buffer[] = [];
  private moreBytes = 0;
  /** The length of the incomplete message `buf` starts with, once its prelude is in (else 0). */
  private need = 0;

  /** Bytes held that do not yet form a whole message. */
  get pending(): number {
    return this.buf.length + this.moreBytes;
  }

  /** Appends a chunk and returns every message it completed. Throws EventStreamError on bad framing. */
  push(chunk: Buffer): EventStreamMessage[] {
    // A large message arrives in many chunks: held as they came and joined once it is whole,
    // not re-joined on every chunk (quadratic, on the event loop).
    if (this.need > 0 && this.pending + chunk.length < this.need) {
      this.more.push(chunk);
      this.moreBytes += chunk.length;
      return [];
    }
    if (this.moreBytes > 0) {
      this.more.unshift(this.buf);
      this.more.push(chunk);
      this.buf = Buffer.concat(this.more, this.pending + chunk.length);
      this.more = [];
      this.moreBytes = 0;
    } else this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.need = 0;
    const out: EventStreamMessage[] = [];
    let off = 0;
    while (this.buf.length - off >= PRELUDE) {
      const total = this.buf.readUInt32BE(off);
      const headersLen = this.buf.readUInt32BE(off + 4);
      if (crc32(this.buf.subarray(off, off + 8)) !== this.buf.readUInt32BE(off + 8)) {
        throw new EventStreamError('event-stream prelude checksum mismatch');
      }
      if (total < MIN_MESSAGE || total > MAX_MESSAGE || headersLen > total - MIN_MESSAGE) {
        throw new EventStreamError('event-stream frame length out of range');
      }
      if (this.buf.length - off < total) {
        this.need = total;
        break;
      }
      const frame = this.buf.subarray(off, off + total);
      if (crc32(frame.subarray(0, total - 4)) !== frame.readUInt32BE(total - 4)) {
        throw new EventStreamError('event-stream message checksum mismatch');
      }
      out.push({
        headers: decodeHeaders(frame.subarray(PRELUDE, PRELUDE + headersLen)),
        payload: frame.subarray(PRELUDE + headersLen, total - 4),
      });
      off += total;
    }
    // Keep only the incomplete tail (copied, so the chunk it came from can be released).
    this.buf = off === 0 ? this.buf : Buffer.from(this.buf.subarray(off));
    return out;
  }
}

function decodeHeaders(b: Buffer): Record<string, string | number | boolean | Buffer> {
  const out: Record<string, string | number | boolean | Buffer> = {};
  let i = 0;
  const need = (n: number) => {
    if (i + n > b.length) throw new EventStreamError('event-stream header overruns its block');
  };
  while (i < b.length) {
    need(1);
    const nameLen = b.readUInt8(i);
    i += 1;
    need(nameLen + 1);
    const name = b.toString('utf8', i, i + nameLen);
    i += nameLen;
    const type = b.readUInt8(i);
    i += 1;
    switch (type) {
      case 0:
      case 1:
        out[name] = type === 0;
        break;
      case 2:
        need(1);
        out[name] = b.readInt8(i);
        i += 1;
        break;
      case 3:
        need(2);
        out[name] = b.readInt16BE(i);
        i += 2;
        break;
      case 4:
        need(4);
        out[name] = b.readInt32BE(i);
        i += 4;
        break;
      case 5:
      case 8:
        need(8);
        out[name] = Number(b.readBigInt64BE(i));
        i += 8;
        break;
      case 6:
      case 7: {
        need(2);
        const len = b.readUInt16BE(i);
        i += 2;
        need(len);
        out[name] = type === 7 ? b.toString('utf8', i, i + len) : Buffer.from(b.subarray(i, i + len));
        i += len;
        break;
      }
      case 9:
        need(16);
        out[name] = Buffer.from(b.subarray(i, i + 16));
        i += 16;
        break;
      default:
        throw new EventStreamError(`event-stream header has unknown type ${type}`);
    }
  }
  return out;
}

/** Encodes one message with string headers (tests, mock upstreams). */
export function encodeEventStreamMessage(
  headers: Readonly<Record<string, string>>,
  payload: Buffer | string,
): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(value, 'utf8');
    const h = Buffer.alloc(1 + n.length + 1 + 2);
    h.writeUInt8(n.length, 0);
    n.copy(h, 1);
    h.writeUInt8(7, 1 + n.length);
    h.writeUInt16BE(v.length, 2 + n.length);
    parts.push(h, v);
  }
  const hdr = Buffer.concat(parts);
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const total = PRELUDE + hdr.length + body.length + 4;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(hdr.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  hdr.copy(out, PRELUDE);
  body.copy(out, PRELUDE + hdr.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

/** A Bedrock event frame: `:message-type: event`, `:event-type: <type>`, JSON payload. */
export function encodeBedrockEvent(eventType: string, payload: unknown): Buffer {
  return encodeEventStreamMessage(
    { ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' },
    JSON.stringify(payload),
  );
}

/** A Bedrock exception frame: `:message-type: exception`, `:exception-type: <name>`. */
export function encodeBedrockException(exceptionType: string, message: string): Buffer {
  return encodeEventStreamMessage(
    { ':exception-type': exceptionType, ':content-type': 'application/json', ':message-type': 'exception' },
    JSON.stringify({ message }),
  );
}
