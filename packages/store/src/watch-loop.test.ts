/**
 * The watch loop against a scripted ConfigSource: cycle order, graceful resync, backoff and
 * its reset, and the guard against a source that delivers stale, reordered or duplicated
 * events. Fault tests against real etcd live in etcd/watch-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigSource, LoadResult, WatchEnd, WatchEvent } from './types.js';
import { startWatchLoop } from './watch-loop.js';

type Step = WatchEnd | { events: WatchEvent[] };

/** Each cycle: a load (or a load error), then the watch steps, in order. */
interface Cycle {
  load: LoadResult | Error;
  watch?: Step[];
}

function put(key: string, revision: number): WatchEvent {
  return { type: 'put', key, value: new Uint8Array(), revision };
}

function scripted(cycles: Cycle[]) {
  const log: string[] = [];
  let i = 0;
  let current: Cycle | undefined;
  const source: ConfigSource = {
    prefix: '/p',
    async load() {
      current = cycles[i++];
      if (!current) {
        log.push('load:park');
        return new Promise<LoadResult>(() => {});
      }
      log.push(current.load instanceof Error ? 'load:error' : `load:${current.load.revision}`);
      if (current.load instanceof Error) throw current.load;
      return current.load;
    },
    async watch(from, onEvents, signal) {
      log.push(`watch:${from}`);
      for (const step of current?.watch ?? []) {
        if (signal.aborted) return { reason: 'aborted' };
        if ('events' in step) onEvents(step.events);
        else return step;
      }
      if (!signal.aborted) await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
      return { reason: 'aborted' };
    },
    async close() {},
  };
  return { source, log };
}

function recorder() {
  const calls: string[] = [];
  const times: number[] = [];
  const at = new Map<string, number>();
  return {
    calls,
    times,
    at,
    handler: {
      onResync: (r: LoadResult) => {
        at.set(`resync:${r.revision}`, Date.now());
        calls.push(`resync:${r.revision}`);
      },
      onEvents: (e: WatchEvent[]) => calls.push(`events:${e.map((x) => x.revision).join(',')}`),
      onFailure: (err: Error) => {
        times.push(Date.now());
        calls.push(`failure:${err.message}`);
      },
      onConnected: (c: boolean) => calls.push(`connected:${c}`),
    },
  };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('load, resync, watch from R+1; compaction and close resync without failure', async () => {
  const { source, log } = scripted([
    {
      load: { revision: 10, entries: [] },
      watch: [{ events: [put('/p/a', 11)] }, { reason: 'compacted', compactRevision: 12 }],
    },
    { load: { revision: 20, entries: [] }, watch: [{ reason: 'closed' }] },
    { load: { revision: 30, entries: [] } },
  ]);
  const r = recorder();
  const loop = startWatchLoop(source, r.handler, { resyncDelayMs: 5 });
  await until(() => log.includes('watch:31'));
  await loop.stop();
  assert.deepEqual(r.calls, ['resync:10', 'connected:true', 'events:11', 'resync:20', 'resync:30']);
  assert.deepEqual(log, ['load:10', 'watch:11', 'load:20', 'watch:21', 'load:30', 'watch:31']);
});

test('failures back off exponentially, capped, and the backoff resets after a successful load', async () => {
  const boom = () => new Error('down');
  const { source, log } = scripted([
    { load: boom() },
    { load: boom() },
    { load: boom() },
    { load: boom() },
    { load: { revision: 5, entries: [] }, watch: [{ reason: 'error', error: new Error('cut') }] },
    { load: { revision: 6, entries: [] } },
  ]);
  const r = recorder();
  const t0 = Date.now();
  const loop = startWatchLoop(source, r.handler, { minBackoffMs: 20, maxBackoffMs: 60 });
  await until(() => log.includes('watch:7'));
  await loop.stop();
  const gaps = r.times.map((t, i) => t - (i === 0 ? t0 : (r.times[i - 1] ?? t0)));
  assert.deepEqual(
    r.calls.filter((c) => !c.startsWith('failure')),
    ['connected:false', 'resync:5', 'connected:true', 'connected:false', 'resync:6', 'connected:true'],
  );
  assert.equal(r.times.length, 5);
  // gaps between failures = the waits: 20, 40, then 80 and 160 capped at 60. A timer counts
  // from libuv's loop time, cached when the loop iteration began, so measured with Date.now()
  // from the moment of the failure a wait can look up to ~1 ms short (a CI run saw 19 for 20):
  // EARLY absorbs that and still tells 20 from 40 from 60.
  const EARLY = 2;
  const [g1 = 0, g2 = 0, g3 = 0, g4 = 0] = gaps.slice(1);
  assert.ok(
    g1 >= 20 - EARLY && g2 >= 40 - EARLY && g3 >= 60 - EARLY && g4 >= 60 - EARLY,
    `gaps ${gaps.join(',')}`,
  );
  assert.ok(g3 < 80 && g4 < 120, `capped: gaps ${gaps.join(',')}`);
  // The 5th failure (the watch error) follows a successful load: the wait after it is min again.
  const resumed = (r.at.get('resync:6') ?? 0) - (r.times[4] ?? 0);
  assert.ok(resumed >= 20 - EARLY && resumed < 60, `wait after the successful load was ${resumed} ms`);
});

for (const [name, batches, bad] of [
  ['an event at the loaded revision', [[put('/p/a', 10)]], 'after revision'],
  ['reordered revisions', [[put('/p/a', 12), put('/p/b', 11)]], 'after revision'],
  ['a duplicate across batches', [[put('/p/a', 11)], [put('/p/a', 11)]], 'duplicate'],
] as const) {
  test(`a source delivering ${name} is treated as failed and resynced`, async () => {
    const { source, log } = scripted([
      { load: { revision: 10, entries: [] }, watch: batches.map((b) => ({ events: [...b] })) },
      { load: { revision: 40, entries: [] } },
    ]);
    const r = recorder();
    const loop = startWatchLoop(source, r.handler, { minBackoffMs: 5 });
    await until(() => log.includes('watch:41'));
    await loop.stop();
    const failure = r.calls.find((c) => c.startsWith('failure:'));
    assert.ok(failure?.includes(bad), String(failure));
    // Nothing of the bad batch was applied, the good first batch of the duplicate case was.
    const applied = r.calls.filter((c) => c.startsWith('events:'));
    assert.deepEqual(applied, name === 'a duplicate across batches' ? ['events:11'] : []);
    assert.equal(r.calls.at(-2), 'resync:40');
  });
}

test('events sharing one revision (one transaction) on different keys are accepted', async () => {
  const { source, log } = scripted([
    {
      load: { revision: 10, entries: [] },
      watch: [{ events: [put('/p/a', 11), put('/p/b', 11)] }, { events: [put('/p/c', 11)] }],
    },
  ]);
  const r = recorder();
  const loop = startWatchLoop(source, r.handler);
  await until(() => r.calls.filter((c) => c.startsWith('events')).length === 2);
  await loop.stop();
  assert.deepEqual(r.calls, ['resync:10', 'connected:true', 'events:11,11', 'events:11']);
  assert.deepEqual(log, ['load:10', 'watch:11']);
});

test('stop() ends a pending load and a running watch promptly', async () => {
  const { source } = scripted([{ load: { revision: 1, entries: [] } }]);
  const r = recorder();
  const loop = startWatchLoop(source, r.handler);
  await until(() => r.calls.includes('connected:true'));
  const t0 = Date.now();
  await loop.stop();
  assert.ok(Date.now() - t0 < 500);
  assert.ok(!r.calls.some((c) => c.startsWith('failure')));
});

test('a pingable source that comes back during a long backoff is resynced at once', async () => {
  const { source } = scripted([
    { load: new Error('etcd down') },
    { load: new Error('etcd still down') },
    { load: { revision: 7, entries: [] } },
  ]);
  let up = false;
  let pings = 0;
  source.ping = async () => {
    pings++;
    if (!up) throw new Error('unreachable');
  };
  const rec = recorder();
  // The second failure backs off 5 s; the source is back after ~300 ms of it.
  const loop = startWatchLoop(source, rec.handler, { minBackoffMs: 2500, probeIntervalMs: 50 });
  try {
    await until(() => rec.calls.filter((c) => c.startsWith('failure')).length === 1, 4000);
    await until(() => rec.calls.filter((c) => c.startsWith('failure')).length === 2, 4000);
    const secondFailure = rec.times[1] ?? 0;
    await new Promise((r) => setTimeout(r, 300));
    up = true;
    await until(() => rec.at.has('resync:7'), 3000);
    const waited = (rec.at.get('resync:7') ?? 0) - secondFailure;
    assert.ok(waited < 1500, `resynced ${waited} ms after the failure; the backoff was 5000 ms`);
    assert.ok(pings >= 3);
  } finally {
    await loop.stop();
  }
});

test('a source that stays reachable while loads fail keeps the full backoff', async () => {
  const { source } = scripted([
    { load: new Error('permission denied') },
    { load: { revision: 3, entries: [] } },
  ]);
  source.ping = async () => {};
  const rec = recorder();
  const loop = startWatchLoop(source, rec.handler, { minBackoffMs: 600, probeIntervalMs: 50 });
  try {
    await until(() => rec.calls.some((c) => c.startsWith('failure')), 3000);
    const failedAt = rec.times[0] ?? 0;
    await until(() => rec.at.has('resync:3'), 3000);
    const waited = (rec.at.get('resync:3') ?? 0) - failedAt;
    assert.ok(waited >= 550, `resynced after ${waited} ms, before the 600 ms backoff ran out`);
  } finally {
    await loop.stop();
  }
});
