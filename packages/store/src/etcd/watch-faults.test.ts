/**
 * Fault tests for the read path: the watch loop over the etcd source, through a cuttable TCP
 * proxy, while a direct writer (bypassing the proxy) keeps writing. After each fault the
 * loop's materialized state must equal a fresh range of etcd (same values, same revisions),
 * per-key revisions must only grow across applied events (no duplicate, no reorder), and
 * every final value must be there (nothing lost).
 * Scenarios: a network cut; etcd SIGKILLed and restarted on its data dir; a compaction past
 * the watcher's revision; a >1000-revision catch-up cut right after its first batch (the
 * case where etcd3's own watcher loses events).
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type EtcdProcess, startEtcd, startTcpProxy, type TcpProxy } from '@aisix/testkit';
import type { ConfigSource, LoadResult, WatchEvent } from '../types.js';
import { startWatchLoop } from '../watch-loop.js';
import { createEtcdStore } from './index.js';
import {
  currentRevision,
  etcdCompact,
  etcdDelete,
  etcdPut,
  etcdRange,
  type Row,
  waitFor,
} from './test-support.js';

const PREFIX = '/faults';
const KEYS = 40;

interface Observed {
  state: Map<string, Row>;
  applied: number;
  resyncs: number;
  failures: number;
  violations: string[];
  /** Per cycle: the first revision its watch covers (load R + 1) and the events applied. */
  segments: { from: number; got: string[] }[];
}

const fmt = (e: WatchEvent) => `${e.type} ${e.key}@${e.revision}`;

/** Runs the watch loop and materializes its state the way a gateway replica would. */
function observe(source: ConfigSource) {
  const obs: Observed = {
    state: new Map(),
    applied: 0,
    resyncs: 0,
    failures: 0,
    violations: [],
    segments: [],
  };
  const lastRev = new Map<string, number>();
  const dec = new TextDecoder();
  const loop = startWatchLoop(
    source,
    {
      onResync(r: LoadResult) {
        obs.resyncs++;
        obs.segments.push({ from: r.revision + 1, got: [] });
        obs.state.clear();
        for (const e of r.entries) {
          const prev = lastRev.get(e.key);
          if (prev !== undefined && e.revision < prev) obs.violations.push(`resync moved ${e.key} back`);
          lastRev.set(e.key, e.revision);
          obs.state.set(e.key, { value: dec.decode(e.value), revision: e.revision });
        }
      },
      onEvents(events: WatchEvent[]) {
        for (const e of events) {
          obs.applied++;
          obs.segments.at(-1)?.got.push(fmt(e));
          const prev = lastRev.get(e.key);
          if (prev !== undefined && e.revision <= prev)
            obs.violations.push(`${e.key}: ${e.revision} after ${prev}`);
          lastRev.set(e.key, e.revision);
          if (e.type === 'put') obs.state.set(e.key, { value: dec.decode(e.value), revision: e.revision });
          else obs.state.delete(e.key);
        }
      },
      onFailure() {
        obs.failures++;
      },
    },
    { minBackoffMs: 100, maxBackoffMs: 1000, resyncDelayMs: 20 },
  );
  return { obs, stop: () => loop.stop() };
}

/** A direct writer: puts (and some deletes) over KEYS keys until stopped; errors are retried. */
function startWriter(endpoint: string) {
  let running = true;
  const stats = { writes: 0, errors: 0 };
  const done = (async () => {
    for (let i = 0; running; i++) {
      const key = `${PREFIX}/models/k${i % KEYS}`;
      try {
        if (i % 7 === 6) await etcdDelete(endpoint, key);
        else await etcdPut(endpoint, key, JSON.stringify({ i }));
        stats.writes++;
      } catch {
        stats.errors++;
        await sleep(50);
      }
    }
  })();
  return {
    stats,
    async stop() {
      running = false;
      await done;
    },
  };
}

/** One confirmed put per key after the fault: these exact values must reach the loop. */
async function finalRound(endpoint: string): Promise<Map<string, Row>> {
  const finals = new Map<string, Row>();
  for (let k = 0; k < KEYS; k++) {
    const key = `${PREFIX}/models/k${k}`;
    const value = JSON.stringify({ final: k });
    finals.set(key, { value, revision: await etcdPut(endpoint, key, value) });
  }
  return finals;
}

async function assertConverged(
  t: TestContext,
  endpoint: string,
  obs: Observed,
  finals: Map<string, Row>,
  historyFrom = 1,
) {
  let truth = new Map<string, Row>();
  const same = async () => {
    truth = (await etcdRange(endpoint, `${PREFIX}/`)).rows;
    try {
      assert.deepEqual(obs.state, truth);
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(same, 15_000);
  t.diagnostic(
    `applied=${obs.applied} resyncs=${obs.resyncs} failures=${obs.failures} keys=${truth.size} violations=${obs.violations.length}`,
  );
  assert.deepEqual(obs.state, truth, 'materialized state differs from etcd');
  assert.deepEqual(obs.violations, [], 'duplicated or reordered events');
  for (const [key, row] of finals) assert.deepEqual(obs.state.get(key), row, `final value of ${key} lost`);
  await assertNoGaps(endpoint, obs, historyFrom);
}

/**
 * Zero lost inside a watch: replays etcd's event history for the prefix (from `from`, i.e.
 * above any compaction) and checks that every cycle's watch applied exactly the history
 * events from its load revision + 1 up to its last applied event; the last cycle must have
 * applied everything up to now.
 */
async function assertNoGaps(endpoint: string, obs: Observed, from: number) {
  const until = await currentRevision(endpoint);
  const reader = createEtcdStore({ endpoints: [endpoint], prefix: PREFIX });
  const history: WatchEvent[] = [];
  const ac = new AbortController();
  const done = reader.source.watch(
    from,
    (evs) => {
      history.push(...evs);
      if ((evs.at(-1)?.revision ?? 0) >= until) ac.abort();
    },
    ac.signal,
  );
  await waitFor(() => ac.signal.aborted, 10_000);
  ac.abort();
  await done;
  await reader.close();
  obs.segments.forEach((seg, i) => {
    if (seg.from < from) return;
    const last = i === obs.segments.length - 1 ? until : Number(seg.got.at(-1)?.split('@')[1] ?? 0);
    const want = history.filter((e) => e.revision >= seg.from && e.revision <= last).map(fmt);
    assert.deepEqual(seg.got, want, `cycle ${i} (from ${seg.from}) missed or invented events`);
  });
}

async function setup(): Promise<
  { etcd: EtcdProcess; proxy: TcpProxy; close(): Promise<void> } & ReturnType<typeof createEtcdStore>
> {
  const etcd = await startEtcd();
  const proxy = await startTcpProxy(etcd.clientPort);
  const store = createEtcdStore({
    endpoints: [proxy.url],
    prefix: PREFIX,
    requestTimeoutMs: 2000,
    dialTimeoutMs: 1000,
  });
  return {
    ...store,
    etcd,
    proxy,
    async close() {
      await store.close();
      await proxy.close();
      await etcd.stop();
    },
  };
}

test('a network cut of a few seconds while the writer keeps writing', { timeout: 30_000 }, async (t) => {
  const env = await setup();
  const { obs, stop } = observe(env.source);
  try {
    assert.ok(await waitFor(() => obs.resyncs >= 1, 5000));
    const writer = startWriter(env.etcd.endpoint);
    await sleep(700);
    env.proxy.cut();
    const writesBefore = writer.stats.writes;
    await sleep(3000);
    t.diagnostic(`writes during the cut: ${writer.stats.writes - writesBefore}`);
    env.proxy.restore();
    await sleep(700);
    await writer.stop();
    const finals = await finalRound(env.etcd.endpoint);
    await assertConverged(t, env.etcd.endpoint, obs, finals);
    assert.ok(obs.failures >= 1, 'the cut was not noticed');
    assert.ok(obs.resyncs >= 2);
  } finally {
    await stop();
    await env.close();
  }
});

test('etcd killed with SIGKILL and restarted on the same data dir', { timeout: 40_000 }, async (t) => {
  const env = await setup();
  const { obs, stop } = observe(env.source);
  try {
    assert.ok(await waitFor(() => obs.resyncs >= 1, 5000));
    const writer = startWriter(env.etcd.endpoint);
    await sleep(700);
    await env.etcd.kill('SIGKILL');
    await sleep(1000);
    await env.etcd.restart();
    await sleep(1000);
    await writer.stop();
    t.diagnostic(`writer: ${writer.stats.writes} writes, ${writer.stats.errors} errors`);
    const finals = await finalRound(env.etcd.endpoint);
    await assertConverged(t, env.etcd.endpoint, obs, finals);
    assert.ok(obs.failures >= 1, 'the kill was not noticed');
  } finally {
    await stop();
    await env.close();
  }
});

test('a compaction past the watcher revision leads to a graceful full resync', {
  timeout: 30_000,
}, async (t) => {
  const env = await setup();
  const ends: string[] = [];
  let hooked = false;
  let compactedAt = 0;
  // Seam: between the loop's load (revision R) and its watch from R+1, cut the watcher off,
  // write, compact past R (physical) and restore, so the watch starts below the compaction.
  const source: ConfigSource = {
    prefix: PREFIX,
    load: (s) => env.source.load(s),
    close: async () => {},
    async watch(from, onEvents, signal) {
      if (!hooked) {
        hooked = true;
        env.proxy.cut();
        for (let i = 0; i < 50; i++)
          await etcdPut(env.etcd.endpoint, `${PREFIX}/models/k${i % KEYS}`, `{"c":${i}}`);
        compactedAt = await currentRevision(env.etcd.endpoint);
        await etcdCompact(env.etcd.endpoint, compactedAt);
        env.proxy.restore();
      }
      const end = await env.source.watch(from, onEvents, signal);
      ends.push(end.reason === 'compacted' ? `compacted@${end.compactRevision}` : end.reason);
      return end;
    },
  };
  const { obs, stop } = observe(source);
  try {
    assert.ok(await waitFor(() => ends.length >= 1, 10_000));
    const writer = startWriter(env.etcd.endpoint);
    await sleep(500);
    await writer.stop();
    const finals = await finalRound(env.etcd.endpoint);
    await assertConverged(t, env.etcd.endpoint, obs, finals, compactedAt + 1);
    t.diagnostic(`watch ends: ${ends.join(',')}`);
    assert.equal(ends[0], `compacted@${compactedAt}`);
    assert.equal(obs.failures, 0, 'a compaction must not count as a failure');
    assert.ok(obs.resyncs >= 2);
  } finally {
    await stop();
    await env.close();
  }
});

test('a >1000-revision catch-up cut right after its first batch loses nothing', {
  timeout: 40_000,
}, async (t) => {
  const env = await setup();
  // The loop starts from an old state: the first load is taken before 2500 writes.
  const old = await env.source.load();
  const total = 2500;
  let next = 0;
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < total) {
        const i = next++;
        await etcdPut(env.etcd.endpoint, `${PREFIX}/models/k${i % 100}`, JSON.stringify({ i }));
      }
    }),
  );
  let loads = 0;
  const batches: number[] = [];
  const source: ConfigSource = {
    prefix: PREFIX,
    load: (s) => (loads++ === 0 ? Promise.resolve(old) : env.source.load(s)),
    close: async () => {},
    watch(from, onEvents, signal) {
      return env.source.watch(
        from,
        (events) => {
          batches.push(events.length);
          if (batches.length === 1) {
            // Cut the watcher right after the first batch of the catch-up; restore after 1 s.
            env.proxy.cut();
            setTimeout(() => env.proxy.restore(), 1000);
          }
          onEvents(events);
        },
        signal,
      );
    },
  };
  const { obs, stop } = observe(source);
  try {
    const writer = startWriter(env.etcd.endpoint);
    // Keep writing past the reconnect, so the re-established watch carries events too.
    assert.ok(await waitFor(() => obs.resyncs >= 2, 10_000), 'no resync after the cut');
    const batchesAtResync = batches.length;
    await sleep(500);
    await writer.stop();
    const finals = await finalRound(env.etcd.endpoint);
    await assertConverged(t, env.etcd.endpoint, obs, finals);
    t.diagnostic(
      `first batch: ${batches[0]} events of ${total}; batches: ${batches.length}; loads: ${loads}`,
    );
    assert.ok(batches.length > batchesAtResync, 'the watch after the resync delivered nothing');
    assert.ok(
      (batches[0] ?? 0) > 0 && (batches[0] ?? total) < total,
      'the cut did not land inside the catch-up',
    );
    assert.ok(obs.failures >= 1);
  } finally {
    await stop();
    await env.close();
  }
});
