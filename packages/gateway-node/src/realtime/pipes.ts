/**
 * Flow control of a realtime session, per direction. `Valve`: a side's reads, paused while
 * anything holds them. `Pipe`: sends towards one peer and pauses
 * the other side's reads while more than `HIGH_WATER` bytes are queued (resumed below
 * `LOW_WATER`), so a slow peer never makes the gateway buffer without bound. `Lane`: keeps one
 * direction's frames in order while some wait for an asynchronous guardrail verdict.
 */
import type { WebSocket } from 'ws';
import type { Verdict } from './guard.js';
import { OPEN } from './ws.js';

const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;

/** Pauses a socket's reads while at least one hold is taken (several reasons may overlap). */
export class Valve {
  private holds = 0;

  constructor(private readonly ws: WebSocket) {}

  hold(): void {
    if (this.holds++ === 0) this.ws.pause();
  }

  release(): void {
    if (this.holds > 0 && --this.holds === 0) this.ws.resume();
  }
}

/** One direction's send queue towards `dest`, pausing `src` when it grows. */
export class Pipe {
  private queued = 0;
  private paused = false;

  constructor(
    private readonly src: Valve,
    private readonly dest: WebSocket,
  ) {}

  send(data: Buffer, binary: boolean): void {
    if (this.dest.readyState !== OPEN) return;
    const n = data.length;
    this.queued += n;
    this.dest.send(data, { binary, compress: false }, () => {
      this.queued -= n;
      if (this.paused && this.queued <= LOW_WATER) {
        this.paused = false;
        this.src.release();
      }
    });
    if (!this.paused && this.queued > HIGH_WATER) {
      this.paused = true;
      this.src.hold();
    }
  }
}

/**
 * Keeps one direction's frames in order while some wait for an asynchronous guardrail verdict
 * (remote guardrails); the source pauses while more than `HIGH_WATER` bytes wait.
 */
export class Lane {
  private tail: Promise<void> | undefined;
  private waiting = 0;
  private paused = false;

  constructor(private readonly src: Valve) {}

  push(size: number, verdict: Verdict | Promise<Verdict>, deliver: (v: Verdict) => void): void {
    if (this.tail === undefined && !(verdict instanceof Promise)) {
      deliver(verdict);
      return;
    }
    this.waiting += size;
    if (!this.paused && this.waiting > HIGH_WATER) {
      this.paused = true;
      this.src.hold();
    }
    const t = (this.tail ?? Promise.resolve()).then(async () => {
      const v = await verdict;
      this.waiting -= size;
      if (this.paused && this.waiting <= LOW_WATER) {
        this.paused = false;
        this.src.release();
      }
      deliver(v);
    });
    this.tail = t;
    void t.finally(() => {
      if (this.tail === t) this.tail = undefined;
    });
  }
}
