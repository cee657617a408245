/**
 * Record framing for the embedded store's files (the append-only log and the state file).
 *
 * A frame is `[u32 LE payload length][u32 LE crc32(payload)][payload]`; a payload is
 * `[u8 op][f64 LE revision][u32 LE key length][key UTF-8][value bytes]`. Values are raw bytes
 * (a direct writer may store anything, like in etcd), so the format is binary, not JSON lines.
 *
 * Decoding stops at the first frame that is short, overlong or fails its checksum and reports
 * the offset where the valid prefix ends: a crash can only tear the tail of an append, and
 * everything before it was fsynced, so the caller truncates the file there.
 */
import { crc32 } from 'node:zlib';

export const OP_PUT = 1;
export const OP_DELETE = 2;
/** First frame of a state file: revision = state revision, value = JSON metadata. */
export const OP_STATE_HEAD = 3;
/** Last frame of a state file: proves the file was written to the end. */
export const OP_STATE_END = 4;

export type Op = typeof OP_PUT | typeof OP_DELETE | typeof OP_STATE_HEAD | typeof OP_STATE_END;

export interface Frame {
  readonly op: Op;
  readonly revision: number;
  readonly key: string;
  readonly value: Uint8Array;
}

/** 8-byte file magics; the last two characters are the format version. */
export const LOG_MAGIC: Buffer = Buffer.from('AISIXL01', 'latin1');
export const STATE_MAGIC: Buffer = Buffer.from('AISIXS01', 'latin1');

const FRAME_HEAD = 8;
const PAYLOAD_HEAD = 1 + 8 + 4;

export function encodeFrame(op: Op, revision: number, key: string, value?: Uint8Array): Buffer {
  const keyLen = Buffer.byteLength(key, 'utf8');
  const valueLen = value?.byteLength ?? 0;
  const payloadLen = PAYLOAD_HEAD + keyLen + valueLen;
  const buf = Buffer.allocUnsafe(FRAME_HEAD + payloadLen);
  const p = FRAME_HEAD;
  buf.writeUInt8(op, p);
  buf.writeDoubleLE(revision, p + 1);
  buf.writeUInt32LE(keyLen, p + 9);
  buf.write(key, p + PAYLOAD_HEAD, keyLen, 'utf8');
  if (value !== undefined && valueLen > 0) buf.set(value, p + PAYLOAD_HEAD + keyLen);
  buf.writeUInt32LE(payloadLen, 0);
  buf.writeUInt32LE(crc32(buf.subarray(FRAME_HEAD)), 4);
  return buf;
}

export interface DecodeResult {
  readonly frames: Frame[];
  /** Offset just past the last valid frame; `< buf.length` means a torn or corrupt tail. */
  readonly validEnd: number;
}

/** Decode frames from `start` until the end or the first invalid frame. */
export function decodeFrames(buf: Buffer, start: number): DecodeResult {
  const frames: Frame[] = [];
  let off = start;
  while (off < buf.length) {
    const frame = decodeOne(buf, off);
    if (frame === null) break;
    frames.push(frame.frame);
    off = frame.next;
  }
  return { frames, validEnd: off };
}

function decodeOne(buf: Buffer, off: number): { frame: Frame; next: number } | null {
  if (buf.length - off < FRAME_HEAD) return null;
  const len = buf.readUInt32LE(off);
  if (len < PAYLOAD_HEAD || len > buf.length - off - FRAME_HEAD) return null;
  const payload = buf.subarray(off + FRAME_HEAD, off + FRAME_HEAD + len);
  if (crc32(payload) !== buf.readUInt32LE(off + 4)) return null;
  const op = payload.readUInt8(0);
  if (op !== OP_PUT && op !== OP_DELETE && op !== OP_STATE_HEAD && op !== OP_STATE_END) return null;
  const revision = payload.readDoubleLE(1);
  const keyLen = payload.readUInt32LE(9);
  if (keyLen > len - PAYLOAD_HEAD || !Number.isSafeInteger(revision) || revision < 0) return null;
  const key = payload.toString('utf8', PAYLOAD_HEAD, PAYLOAD_HEAD + keyLen);
  // Copy the value out so the (possibly large) file buffer can be collected after replay.
  const value = new Uint8Array(payload.subarray(PAYLOAD_HEAD + keyLen));
  return { frame: { op, revision, key, value }, next: off + FRAME_HEAD + len };
}
