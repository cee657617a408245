/** Test-only helpers shared by this package's test files (not exported from the package). */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisHandle } from './types.js';

/** Polls `cond` every 5 ms; rejects after `timeoutMs`. Resolves with the wait in ms. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
  return performance.now() - t0;
}

/** How long `p` took to settle, and whether it rejected. */
export async function timed(p: Promise<unknown>): Promise<{ ms: number; rejected: boolean; err?: unknown }> {
  const t0 = performance.now();
  try {
    await p;
    return { ms: performance.now() - t0, rejected: false };
  } catch (err) {
    return { ms: performance.now() - t0, rejected: true, err };
  }
}

/**
 * The fail-fast contract after a server behind `h` died: once the handle has noticed (ready
 * false), `n` calls each reject within `maxMs`. Returns the slowest call in ms.
 */
export async function assertFailsFast(
  call: () => Promise<unknown>,
  h: RedisHandle,
  n = 10,
  maxMs = 50,
): Promise<number> {
  await until(() => !h.ready, 3000, 'the handle to notice the outage');
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const r = await timed(call());
    if (!r.rejected) throw new Error('a call succeeded while the server was down');
    worst = Math.max(worst, r.ms);
  }
  if (worst >= maxMs) throw new Error(`slowest call while down took ${worst.toFixed(1)} ms (limit ${maxMs})`);
  return worst;
}

/** Retries `call` every 20 ms until it succeeds; resolves with the wait in ms. */
export async function untilWorks(
  call: () => Promise<unknown>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  return until(
    () =>
      call().then(
        () => true,
        () => false,
      ),
    timeoutMs,
    what,
  );
}
