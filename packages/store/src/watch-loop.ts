/**
 * The watch supervisor, generic over any ConfigSource (etcd and embedded): load everything
 * at revision R → hand it over as a resync → watch from R+1 → apply events → on a graceful
 * end (compaction, server close) wait briefly and resync; on a failure report it, back off
 * (1 s, 2 s, 4 s … capped at 60 s) and resync.
 *
 * Rules that keep a replica's state exact:
 *  - never resume a watch from a remembered revision; every restart is a full load at a fresh
 *    revision (resuming is how etcd3's watcher loses events, see etcd/index.ts);
 *  - the backoff resets after every successful load (decision 4), not only after a graceful
 *    end as in the reference;
 *  - while backing off, a source that can `ping` is probed every `probeIntervalMs`; when a
 *    source that was unreachable answers again the pause ends at once. The backoff exists to
 *    spare a struggling source repeated full loads, not to keep a replica stale for up to a
 *    minute after an outage: a source that stays reachable while loads fail (auth, errors)
 *    still gets the full backoff;
 *  - a source that "succeeds" but hands over events at or below the loaded revision, out of
 *    revision order, or twice (same key at the same revision) is treated as failed: the
 *    batch is dropped unapplied and the loop resyncs.
 * Not here: building snapshots from entries (core) or status reporting (the caller's handler).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConfigSource, LoadResult, WatchEnd, WatchEvent } from './types.js';

export interface WatchLoopHandler {
  /** A full load at a fresh revision: replace all state with these entries. */
  onResync(result: LoadResult): void;
  /** Events in revision order, each newer than everything handed over before. */
  onEvents(events: WatchEvent[]): void;
  /** A load or watch failure ("fetch"); the loop keeps the current state and backs off. */
  onFailure(error: Error): void;
  /** Called when the source becomes reachable (after a load) or unreachable (a failure). */
  onConnected?(connected: boolean): void;
}

export interface WatchLoopOptions {
  /** First backoff after a failure (default 1000). */
  minBackoffMs?: number;
  /** Backoff cap (default 60000). */
  maxBackoffMs?: number;
  /** Pause before the resync after a compaction or a server-closed stream (default 100). */
  resyncDelayMs?: number;
  /** Reachability probe interval while backing off, for sources with `ping` (default 1000). */
  probeIntervalMs?: number;
}

export interface WatchLoop {
  /** Stops the loop and waits for the running load/watch to end. */
  stop(): Promise<void>;
}

/** Checks a batch against what was applied; returns the problem, or undefined if in order. */
function orderProblem(
  events: WatchEvent[],
  state: { rev: number; keysAtRev: Set<string> },
): string | undefined {
  let rev = state.rev;
  let keys = state.keysAtRev;
  for (const e of events) {
    if (e.revision < rev) return `event for ${e.key} at revision ${e.revision} after revision ${rev}`;
    if (e.revision > rev) {
      rev = e.revision;
      keys = new Set();
    } else if (keys.has(e.key)) {
      return `duplicate event for ${e.key} at revision ${e.revision}`;
    }
    keys.add(e.key);
  }
  state.rev = rev;
  state.keysAtRev = keys;
  return undefined;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export function startWatchLoop(
  source: ConfigSource,
  handler: WatchLoopHandler,
  opts: WatchLoopOptions = {},
): WatchLoop {
  const minBackoff = opts.minBackoffMs ?? 1000;
  const maxBackoff = opts.maxBackoffMs ?? 60_000;
  const resyncDelay = opts.resyncDelayMs ?? 100;
  const probeInterval = opts.probeIntervalMs ?? 1000;
  const stopper = new AbortController();
  const signal = stopper.signal;
  let connected: boolean | undefined;

  const setConnected = (c: boolean) => {
    if (connected === c) return;
    connected = c;
    handler.onConnected?.(c);
  };
  const pause = async (ms: number) => {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      // aborted by stop(): the loop condition ends the run
    }
  };

  /**
   * The pause after a failure. With a pingable source it ends early once the source answers
   * after having been unreachable during this pause (an outage ended); otherwise it runs out.
   */
  const backOff = async (ms: number) => {
    if (!source.ping) return pause(ms);
    const deadline = Date.now() + ms;
    let sawDown = false;
    while (!signal.aborted && Date.now() < deadline) {
      await pause(Math.min(probeInterval, deadline - Date.now()));
      if (signal.aborted || Date.now() >= deadline) return;
      try {
        await source.ping(AbortSignal.any([signal, AbortSignal.timeout(probeInterval)]));
        if (sawDown) return;
      } catch {
        sawDown = true;
      }
    }
  };

  /** One cycle: load, resync, watch. Returns how it ended (errors as `reason: 'error'`). */
  const cycle = async (onLoaded: () => void): Promise<WatchEnd> => {
    let loaded: LoadResult;
    try {
      loaded = await source.load(signal);
    } catch (err) {
      return signal.aborted ? { reason: 'aborted' } : { reason: 'error', error: asError(err) };
    }
    if (signal.aborted) return { reason: 'aborted' };
    onLoaded();
    try {
      handler.onResync(loaded);
    } catch (err) {
      return { reason: 'error', error: asError(err) };
    }
    setConnected(true);

    // Every event must be newer than the load: start the order check at R+1.
    const order = { rev: loaded.revision + 1, keysAtRev: new Set<string>() };
    const watchAc = new AbortController();
    const onStop = () => watchAc.abort();
    signal.addEventListener('abort', onStop, { once: true });
    let broken: Error | undefined;
    try {
      const end = await source.watch(
        loaded.revision + 1,
        (events) => {
          if (broken || watchAc.signal.aborted) return;
          const problem = orderProblem(events, order);
          if (problem) {
            broken = new Error(`watch delivered events out of order: ${problem}`);
            watchAc.abort();
            return;
          }
          try {
            handler.onEvents(events);
          } catch (err) {
            broken = asError(err);
            watchAc.abort();
          }
        },
        watchAc.signal,
      );
      if (broken) return { reason: 'error', error: broken };
      return end;
    } catch (err) {
      return broken ? { reason: 'error', error: broken } : { reason: 'error', error: asError(err) };
    } finally {
      signal.removeEventListener('abort', onStop);
    }
  };

  const run = async () => {
    let backoff = minBackoff;
    while (!signal.aborted) {
      const end = await cycle(() => {
        backoff = minBackoff;
      });
      if (signal.aborted || end.reason === 'aborted') {
        if (signal.aborted) return;
        // The source ended with "aborted" although we did not stop: treat as a failure.
        handler.onFailure(new Error('watch aborted unexpectedly'));
        setConnected(false);
        await backOff(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
        continue;
      }
      if (end.reason === 'compacted' || end.reason === 'closed') {
        backoff = minBackoff;
        await pause(resyncDelay);
        continue;
      }
      handler.onFailure(end.error);
      setConnected(false);
      await backOff(backoff);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  };

  const done = run().catch((err: unknown) => {
    // Only a throwing handler callback can get here; report it rather than crash silently.
    try {
      handler.onFailure(asError(err));
    } catch {
      // nothing left to report to
    }
  });
  return {
    async stop() {
      stopper.abort();
      await done;
    },
  };
}
