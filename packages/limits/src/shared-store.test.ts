/**
 * The pod-shared store: the contract over an in-process channel pair (JSON-serialized like
 * cluster IPC) to a MemoryCounterStore on a movable clock; owner bookkeeping (a dead worker's
 * slots are released); timeouts (no answer -> reject, a late grant is given back); and two
 * real forked children sharing one limit over their IPC channels.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import type { Worker } from 'node:cluster';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { counterStoreContract, fakeClock } from './contract/index.js';
import { MemoryCounterStore } from './memory-store.js';
import { CounterStoreServer, ipcChannel, RemoteCounterStore, serveCounterStore } from './shared-store.js';
import { channelPair } from './test/channels.js';

counterStoreContract(
  'RemoteCounterStore over an in-process channel',
  async () => {
    const clock = fakeClock();
    const backing = new MemoryCounterStore({ now: clock.now, concurrencyTtlSecs: 2, sweepIntervalMs: 0 });
    const [primary, worker] = channelPair();
    serveCounterStore(backing, primary, 'w1');
    const store = new RemoteCounterStore(worker, { concurrencyTtlSecs: 2 });
    return {
      store,
      clock,
      concurrencyTtlSecs: 2,
      close: async () => {
        await store.close();
        await backing.close();
      },
    };
  },
  { movableClock: true },
);

// Compile-time check: the adapter takes what the gateway will hand it (cluster workers, process).
export const adapts = [(w: Worker) => ipcChannel(w), () => ipcChannel(process)];

describe('pod-shared store', () => {
  it("releaseOwner frees a dead worker's slots; other workers keep theirs", async () => {
    const backing = new MemoryCounterStore({ sweepIntervalMs: 0 });
    const server = new CounterStoreServer(backing);
    const [p1, w1] = channelPair();
    const [p2, w2] = channelPair();
    server.serve(p1, 'w1');
    server.serve(p2, 'w2');
    const r1 = new RemoteCounterStore(w1);
    const r2 = new RemoteCounterStore(w2);
    const L = { concurrency: 3 };
    const a = await r1.acquire({ key: 'c', limits: L, id: 'a', reserveTokens: 0 });
    await r1.acquire({ key: 'c', limits: L, id: 'b', reserveTokens: 0 });
    const c = await r2.acquire({ key: 'c', limits: L, id: 'c', reserveTokens: 0 });
    assert.ok(a.ok && c.ok);
    assert.equal((await r2.acquire({ key: 'c', limits: L, id: 'd', reserveTokens: 0 })).ok, false);
    await r1.commit(a.grant, 0);
    assert.equal(server.held('w1'), 1);
    assert.equal(await server.releaseOwner('w1'), 1);
    assert.equal(server.held('w2'), 1);
    const e = await r2.acquire({ key: 'c', limits: L, id: 'e', reserveTokens: 0 });
    const f = await r2.acquire({ key: 'c', limits: L, id: 'f', reserveTokens: 0 });
    assert.ok(e.ok && f.ok);
    assert.equal((await r2.acquire({ key: 'c', limits: L, id: 'g', reserveTokens: 0 })).ok, false);
    // Settling a grant the server already dropped is a harmless no-op.
    await r1.release(a.grant, true);
    await Promise.all([r1.close(), r2.close(), backing.close()]);
  });

  it('a call without an answer rejects after the timeout; a late grant is released with rollback', async () => {
    const backing = new MemoryCounterStore({ sweepIntervalMs: 0 });
    const [primary, worker] = channelPair();
    serveCounterStore(backing, primary);
    const remote = new RemoteCounterStore(worker, { timeoutMs: 60 });
    primary.mute = true;
    const t0 = Date.now();
    await assert.rejects(
      remote.acquire({ key: 'late', limits: { rpm: 1, concurrency: 1 }, id: 'x', reserveTokens: 0 }),
      /no answer within 60 ms/,
    );
    assert.ok(Date.now() - t0 < 1000);
    primary.mute = false;
    // A primary that answers too late: the grant arrives after the timeout and is given back.
    const [slowPrimary, slowWorker] = channelPair();
    serveCounterStore(backing, slowPrimary);
    slowPrimary.delayMs = 80;
    const slow = new RemoteCounterStore(slowWorker, { timeoutMs: 20 });
    const L = { rpm: 1, concurrency: 1 };
    await assert.rejects(slow.acquire({ key: 'late2', limits: L, id: 'y', reserveTokens: 0 }), /no answer/);
    assert.equal((await remote.acquire({ key: 'late2', limits: L, id: 'z1', reserveTokens: 0 })).ok, false);
    await sleep(150);
    const v = await remote.acquire({ key: 'late2', limits: L, id: 'z2', reserveTokens: 0 });
    assert.equal(v.ok, true, 'the abandoned grant was rolled back: its request count and slot are gone');
    await Promise.all([remote.close(), slow.close(), backing.close()]);
  });

  it("a refreshed grant stays known to the server past grantTtlSecs: its worker's release still frees the slot", async () => {
    const clock = fakeClock();
    const backing = new MemoryCounterStore({ now: clock.now, concurrencyTtlSecs: 2, sweepIntervalMs: 0 });
    const server = new CounterStoreServer(backing, { grantTtlSecs: 2, now: clock.now });
    const [p, w] = channelPair();
    server.serve(p, 'w');
    const remote = new RemoteCounterStore(w, { concurrencyTtlSecs: 2 });
    assert.equal(remote.slotTtlMs, 2000);
    const L = { concurrency: 1 };
    const a = await remote.acquire({ key: 's', limits: L, id: 'a', reserveTokens: 0 });
    assert.ok(a.ok);
    for (let i = 0; i < 4; i++) {
      clock.advance(1500);
      await remote.refresh([a.grant]);
      // Another admission of this worker: the server forgets its records older than 2 s.
      assert.ok(
        (await remote.acquire({ key: `o${i}`, limits: { rpm: 5 }, id: `o${i}`, reserveTokens: 0 })).ok,
      );
      assert.equal((await remote.acquire({ key: 's', limits: L, id: `x${i}`, reserveTokens: 0 })).ok, false);
    }
    await remote.release(a.grant, false);
    assert.ok((await remote.acquire({ key: 's', limits: L, id: 'b', reserveTokens: 0 })).ok);
    await Promise.all([remote.close(), backing.close()]);
  });

  it('grantTtlSecs 0 (concurrency_ttl_secs 0): grant records are kept, a release after any time frees its slot', async () => {
    const clock = fakeClock();
    const backing = new MemoryCounterStore({ now: clock.now, concurrencyTtlSecs: 0, sweepIntervalMs: 0 });
    const server = new CounterStoreServer(backing, { grantTtlSecs: 0, now: clock.now });
    const [p, w] = channelPair();
    server.serve(p, 'w');
    const remote = new RemoteCounterStore(w, { concurrencyTtlSecs: 0 });
    assert.equal(remote.slotTtlMs, undefined, 'nothing to refresh');
    const L = { concurrency: 1 };
    const a = await remote.acquire({ key: 's', limits: L, id: 'a', reserveTokens: 0 });
    assert.ok(a.ok);
    // A request running for an hour; meanwhile the worker is admitted elsewhere.
    clock.advance(3_600_000);
    assert.ok((await remote.acquire({ key: 'o', limits: { rpm: 5 }, id: 'o', reserveTokens: 0 })).ok);
    assert.equal(server.held('w'), 2);
    assert.equal((await remote.acquire({ key: 's', limits: L, id: 'x', reserveTokens: 0 })).ok, false);
    await remote.release(a.grant, false);
    const b = await remote.acquire({ key: 's', limits: L, id: 'b', reserveTokens: 0 });
    assert.ok(b.ok, 'the slot was released, not held for good');
    await Promise.all([remote.close(), backing.close()]);
  });

  it('closed remote stores reject at once', async () => {
    const [, worker] = channelPair();
    const remote = new RemoteCounterStore(worker);
    await remote.close();
    await assert.rejects(remote.acquire({ key: 'k', limits: {}, id: 'a', reserveTokens: 0 }), /closed/);
  });

  it('two forked workers share one limit over real IPC; a killed worker gives its slots back', async () => {
    // Keep the rpm case away from a minute boundary (real clock).
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 4000) await sleep(left + 50);
    const backing = new MemoryCounterStore({ sweepIntervalMs: 0 });
    const server = new CounterStoreServer(backing);
    const childPath = new URL('./test/remote-child.js', import.meta.url);
    const children: ChildProcess[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const child = fork(childPath, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        children.push(child);
        server.serve(ipcChannel(child), `w${i}`);
        child.on('exit', () => void server.releaseOwner(`w${i}`));
        const [m] = (await once(child, 'message')) as [{ cmd: string }];
        assert.equal(m.cmd, 'ready');
      }
      const ask = async (child: ChildProcess, tag: string, key: string, limits: object, n: number) => {
        child.send({ cmd: 'acquire', key, limits, n, tag });
        for (;;) {
          const [m] = (await once(child, 'message')) as [{ cmd?: string; tag?: string; ok?: number }];
          if (m.cmd === 'done' && m.tag === tag) return m.ok as number;
        }
      };
      const [c0, c1] = children as [ChildProcess, ChildProcess];
      const oks = await Promise.all([
        ask(c0, 'r', 'fork-rpm', { rpm: 100 }, 70),
        ask(c1, 'r', 'fork-rpm', { rpm: 100 }, 70),
      ]);
      assert.equal(oks[0] + oks[1], 100);
      assert.equal(await ask(c0, 'c', 'fork-conc', { concurrency: 4 }, 3), 3);
      assert.equal(await ask(c1, 'c', 'fork-conc', { concurrency: 4 }, 3), 1);
      assert.equal(server.held('w0'), 3 + oks[0]);
      const exited = once(c0, 'exit');
      c0.kill('SIGKILL');
      await exited;
      await sleep(10);
      assert.equal(server.held('w0'), 0);
      assert.equal(await ask(c1, 'c2', 'fork-conc', { concurrency: 4 }, 5), 3);
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await backing.close();
    }
  });
});
