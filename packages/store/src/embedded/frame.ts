/**
 * Record framing for the embedded store's files (the append-only log and the state file).
 *
 * A frame is `[u32 LE payload length][u32 LE crc32(payload)][payload]`; a payload is
 * `[u8 op][f64 LE revision][u32 LE key length][key UTF-8][value bytes]`. Values are raw bytes
 * (a direct writer may store anything, like in etcd), so the format is binary, not JSON lines.
 *
 * A transaction (several keys at one revision, like an etcd txn: a write and its audit record)
 * is ONE frame, `OP_TXN`, whose value packs the operations; one checksum covers them all, so a
 * torn tail drops the whole transaction or none of it.
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
/** Log only: puts and deletes committed together at the frame's revision (`encodeTxn`). */
export const OP_TXN = 5;

export type Op =
  | typeof OP_PUT
  | typeof OP_DELETE
  | typeof OP_STATE_HEAD
  | typeof OP_STATE_END
  | typeof OP_TXN;

export interface Frame {
  readonly op: Op;
  readonly revision: number;
  readonly key: string;
  readonly value: Uint8Array;
}

/**
 * 8-byte file magics; the last two characters are the format version. Logs are version 02
 * since OP_TXN exists; a version 01 log (no OP_TXN frames) is read as is and relabelled 02
 * before anything is appended, so an older binary refuses the log loudly instead of cutting
 * it at the first frame it does not know.
 */
export const LOG_MAGIC: Buffer = Buffer.from('AISIXL02', 'latin1');
export const LOG_MAGIC_V1: Buffer = Buffer.from('AISIXL01', 'latin1');
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
  if (op !== OP_PUT && op !== OP_DELETE && op !== OP_STATE_HEAD && op !== OP_STATE_END && op !== OP_TXN) {
    return null;
  }
  const revision = payload.readDoubleLE(1);
  const keyLen = payload.readUInt32LE(9);
  if (keyLen > len - PAYLOAD_HEAD || !Number.isSafeInteger(revision) || revision < 0) return null;
  const key = payload.toString('utf8', PAYLOAD_HEAD, PAYLOAD_HEAD + keyLen);
  // Copy the value out so the (possibly large) file buffer can be collected after replay.
  const value = new Uint8Array(payload.subarray(PAYLOAD_HEAD + keyLen));
  return { frame: { op, revision, key, value }, next: off + FRAME_HEAD + len };
}

export interface TxnOp {
  readonly key: string;
  /** null = delete */
  readonly value: Uint8Array | null;
}

/** `OP_TXN` value: `[u32 count]` then per op `[u8 op][u32 key length][key][u32 value length][value]`. */
export function encodeTxn(revision: number, ops: readonly TxnOp[]): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32LE(ops.length, 0);
  parts.push(count);
  for (const o of ops) {
    const key = Buffer.from(o.key, 'utf8');
    const head = Buffer.allocUnsafe(5);
    head.writeUInt8(o.value === null ? OP_DELETE : OP_PUT, 0);
    head.writeUInt32LE(key.length, 1);
    const vlen = Buffer.allocUnsafe(4);
    vlen.writeUInt32LE(o.value?.byteLength ?? 0, 0);
    parts.push(head, key, vlen);
    if (o.value !== null) parts.push(Buffer.from(o.value.buffer, o.value.byteOffset, o.value.byteLength));
  }
  return encodeFrame(OP_TXN, revision, '', Buffer.concat(parts));
}

/** The operations of an `OP_TXN` frame; throws on a malformed value (the frame's CRC held). */
export function decodeTxn(value: Uint8Array): TxnOp[] {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const bad = (): Error => new Error('embedded store log holds a malformed transaction frame');
  if (buf.length < 4) throw bad();
  const n = buf.readUInt32LE(0);
  const ops: TxnOp[] = [];
  let off = 4;
  for (let i = 0; i < n; i++) {
    if (buf.length - off < 5) throw bad();
    const op = buf.readUInt8(off);
    const klen = buf.readUInt32LE(off + 1);
    off += 5;
    if (buf.length - off < klen + 4) throw bad();
    const key = buf.toString('utf8', off, off + klen);
    off += klen;
    const vlen = buf.readUInt32LE(off);
    off += 4;
    if (buf.length - off < vlen || (op !== OP_PUT && op !== OP_DELETE)) throw bad();
    ops.push({ key, value: op === OP_PUT ? new Uint8Array(buf.subarray(off, off + vlen)) : null });
    off += vlen;
  }
  if (off !== buf.length) throw bad();
  return ops;
}
