/**
 * Large texts are scanned on a worker thread so a 10 MiB prompt (or an answer that large) does
 * not hold the event loop while other requests wait: RE2 is linear but not fast (a few MB/s in
 * JavaScript). Texts under `OFFLOAD_CHARS` are scanned inline, where a worker round trip would
 * cost more than the scan. One worker, started on first use and not keeping the process alive;
 * if it cannot run, the scan happens inline (never skipped).
 */
import { Worker } from 'node:worker_threads';
import { type Outcome, scanLocal } from './chain.js';
import type { CompiledGuardrail } from './compile.js';
import type { ScanRequest } from './scan-worker.js';

export const OFFLOAD_CHARS = 64 * 1024;
const PART_CHARS = 256 * 1024;

interface Reply {
  readonly n: number;
  readonly outcomes?: Outcome[];
  readonly error?: string;
}

let worker: Worker | undefined;
let seq = 0;
const waiting = new Map<number, (o: Outcome[] | undefined) => void>();

function start(): Worker | undefined {
  if (worker !== undefined) return worker;
  try {
    const w = new Worker(new URL('./scan-worker.js', import.meta.url));
    w.unref();
    w.on('message', (r: Reply) => {
      const done = waiting.get(r.n);
      waiting.delete(r.n);
      done?.(r.outcomes);
      if (waiting.size === 0) w.unref();
    });
    const fail = () => {
      worker = undefined;
      const all = [...waiting.values()];
      waiting.clear();
      for (const f of all) f(undefined);
    };
    w.on('error', fail);
    w.on('exit', fail);
    worker = w;
    return w;
  } catch {
    return undefined;
  }
}

/** The local members' outcomes for `text`: inline for small texts, on the scan worker for large ones. */
export function scanLocalText(
  chain: readonly CompiledGuardrail[],
  text: string,
): Outcome[] | Promise<Outcome[]> {
  if (text.length < OFFLOAD_CHARS || chain.length === 0) return scanLocal(chain, text);
  const w = start();
  if (w === undefined) return scanLocal(chain, text);
  const n = ++seq;
  const req: ScanRequest = {
    n,
    chain: chain.map((g) => g.source),
    parts: Math.ceil(text.length / PART_CHARS),
  };
  return new Promise<Outcome[]>((resolve) => {
    waiting.set(n, (o) => resolve(o ?? scanLocal(chain, text)));
    w.ref();
    w.postMessage(req);
    // Copying a string into a message costs this thread time in proportion to its size: the
    // text goes in parts, one per turn of the event loop, so no single copy holds it for long.
    let at = 0;
    const next = (): void => {
      if (!waiting.has(n)) return;
      w.postMessage({ n, part: text.slice(at, at + PART_CHARS) });
      at += PART_CHARS;
      if (at < text.length) setImmediate(next);
    };
    next();
  });
}
