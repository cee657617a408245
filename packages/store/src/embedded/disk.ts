/**
 * The embedded store's files in its data dir:
 *   LOCK            owner pid (lock.ts)
 *   state           compacted key space at one revision: magic, head frame, one put frame per
 *                   key, end frame. Replaced atomically (write state.tmp, fsync, rename, fsync dir).
 *   log-<gen>       append-only frames of every write after that state. The state names the
 *                   generation of the log that follows it, so a crash between writing the state
 *                   and deleting the old log cannot replay old records on top of the new state.
 *
 * Every append is fsynced (fdatasync) before the caller acknowledges the write. On open the log
 * is replayed up to its first torn or corrupt frame and truncated there; a crash can only tear
 * the unacknowledged tail. A bad state file is not a crash artifact (it only appears by rename
 * after fsync), so it fails the open loudly instead of silently losing data.
 */
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  decodeFrames,
  encodeFrame,
  type Frame,
  LOG_MAGIC,
  LOG_MAGIC_V1,
  OP_DELETE,
  OP_PUT,
  OP_STATE_END,
  OP_STATE_HEAD,
  OP_TXN,
  STATE_MAGIC,
} from './frame.js';

const STATE = 'state';
const STATE_TMP = 'state.tmp';
const logName = (gen: number): string => `log-${String(gen).padStart(8, '0')}`;
const LOG_RE = /^log-(\d{8,})$/;

export interface StateEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
}

export interface Recovered {
  /** Revision of the state file (0 when there is none). */
  readonly stateRevision: number;
  readonly stateEntries: StateEntry[];
  /** Put/delete/txn frames of the log, in order. */
  readonly logFrames: Frame[];
  /** Bytes cut from the end of the log (a torn or corrupt tail). */
  readonly truncatedBytes: number;
}

interface StateMeta {
  readonly logGen: number;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readIfExists(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function readState(path: string, buf: Buffer): { meta: StateMeta; revision: number; entries: StateEntry[] } {
  const bad = (why: string): Error =>
    new Error(`embedded store state file ${path} is corrupt (${why}); restore it from a backup`);
  if (buf.length < STATE_MAGIC.length || !buf.subarray(0, STATE_MAGIC.length).equals(STATE_MAGIC)) {
    throw bad('bad magic');
  }
  const { frames, validEnd } = decodeFrames(buf, STATE_MAGIC.length);
  const head = frames[0];
  const end = frames[frames.length - 1];
  if (validEnd !== buf.length || !head || head.op !== OP_STATE_HEAD || end?.op !== OP_STATE_END) {
    throw bad('incomplete');
  }
  const meta = JSON.parse(Buffer.from(head.value).toString('utf8')) as StateMeta;
  if (!Number.isSafeInteger(meta.logGen) || meta.logGen < 1) throw bad('bad log generation');
  const entries = frames.slice(1, -1).map((f) => {
    if (f.op !== OP_PUT) throw bad('unexpected frame');
    return { key: f.key, value: f.value, revision: f.revision };
  });
  return { meta, revision: head.revision, entries };
}

/** Create the data dir (and missing parents) durably. Runs before the lock is taken. */
export async function ensureDataDir(dir: string): Promise<void> {
  const created = await mkdir(dir, { recursive: true });
  if (created === undefined) return;
  // fsync each parent up to the first one that already existed, or a crash could lose the
  // new data dir together with the acknowledged writes inside it.
  for (let d = dir; d !== dirname(created); d = dirname(d)) await fsyncDir(dirname(d));
}

export class Disk {
  private constructor(
    private readonly dir: string,
    private log: FileHandle,
    private logGen: number,
    /** Bytes in the current log, magic included. */
    public logBytes: number,
    /** Bytes of the last state file written or read. */
    public stateBytes: number,
  ) {}

  static async open(dir: string): Promise<{ disk: Disk; recovered: Recovered }> {
    await rm(join(dir, STATE_TMP), { force: true });
    const stateBuf = await readIfExists(join(dir, STATE));
    const state = stateBuf ? readState(join(dir, STATE), stateBuf) : null;
    const logGen = state?.meta.logGen ?? 1;

    // Logs of older generations are fully contained in the state (left by a crash mid-switch).
    for (const name of await readdir(dir)) {
      const m = LOG_RE.exec(name);
      if (m && Number(m[1]) < logGen) await rm(join(dir, name), { force: true });
    }

    const logPath = join(dir, logName(logGen));
    const logBuf = await readIfExists(logPath);
    let logFrames: Frame[] = [];
    let truncatedBytes = 0;
    let logBytes = 0;
    let relabel = false;
    if (logBuf && logBuf.length >= LOG_MAGIC.length) {
      const magic = logBuf.subarray(0, LOG_MAGIC.length);
      relabel = magic.equals(LOG_MAGIC_V1);
      if (!magic.equals(LOG_MAGIC) && !relabel) {
        throw new Error(`embedded store log ${logPath} has a bad header; restore it from a backup`);
      }
      const decoded = decodeFrames(logBuf, LOG_MAGIC.length);
      logFrames = decoded.frames.filter((f) => f.op === OP_PUT || f.op === OP_DELETE || f.op === OP_TXN);
      truncatedBytes = logBuf.length - decoded.validEnd;
      logBytes = decoded.validEnd;
      if (truncatedBytes > 0) {
        await truncate(logPath, decoded.validEnd);
      }
    }
    // A log shorter than its magic was torn while being created: nothing was acknowledged in it.
    const fresh = logBytes === 0;
    const log = await open(logPath, fresh ? 'w' : 'a');
    if (fresh) {
      await log.write(LOG_MAGIC);
      logBytes = LOG_MAGIC.length;
    } else if (relabel) {
      // Same length, same frames: only the version changes (see LOG_MAGIC).
      const fh = await open(logPath, 'r+');
      try {
        await fh.write(LOG_MAGIC, 0, LOG_MAGIC.length, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    await log.sync();
    if (fresh || truncatedBytes > 0) await fsyncDir(dir);

    const disk = new Disk(dir, log, logGen, logBytes, stateBuf?.length ?? 0);
    return {
      disk,
      recovered: {
        stateRevision: state?.revision ?? 0,
        stateEntries: state?.entries ?? [],
        logFrames,
        truncatedBytes,
      },
    };
  }

  /** Append frames and make them durable before returning. */
  async append(buf: Buffer): Promise<void> {
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await this.log.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    this.logBytes += buf.length;
    await this.log.datasync();
  }

  /**
   * Write the whole key space as the new state and switch to an empty log. The caller must not
   * append while this runs.
   */
  async writeState(
    revision: number,
    entries: Iterable<[string, { readonly value: Uint8Array; readonly revision: number }]>,
  ): Promise<void> {
    const nextGen = this.logGen + 1;
    const tmp = join(this.dir, STATE_TMP);
    const fh = await open(tmp, 'w');
    let size = 0;
    try {
      const meta: StateMeta = { logGen: nextGen };
      let chunk: Buffer[] = [
        STATE_MAGIC,
        encodeFrame(OP_STATE_HEAD, revision, '', Buffer.from(JSON.stringify(meta))),
      ];
      let chunkBytes = 0;
      const flush = async (): Promise<void> => {
        const buf = Buffer.concat(chunk);
        await fh.write(buf);
        size += buf.length;
        chunk = [];
        chunkBytes = 0;
      };
      for (const [key, e] of entries) {
        const frame = encodeFrame(OP_PUT, e.revision, key, e.value);
        chunk.push(frame);
        chunkBytes += frame.length;
        if (chunkBytes >= 1 << 20) await flush();
      }
      chunk.push(encodeFrame(OP_STATE_END, revision, ''));
      await flush();
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, STATE));
    await fsyncDir(this.dir);

    const oldGen = this.logGen;
    const next = await open(join(this.dir, logName(nextGen)), 'w');
    await next.write(LOG_MAGIC);
    await next.sync();
    await fsyncDir(this.dir);
    const old = this.log;
    this.log = next;
    this.logGen = nextGen;
    this.logBytes = LOG_MAGIC.length;
    this.stateBytes = size;
    await old.close();
    await rm(join(this.dir, logName(oldGen)), { force: true });
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}
