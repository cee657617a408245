/**
 * Child process for the shared-store fork test: a worker holding a `RemoteCounterStore` over
 * its real IPC channel. The parent sends `{cmd: 'acquire', key, limits, n, tag}` and gets back
 * how many of the n parallel acquires were admitted.
 */
import { ipcChannel, RemoteCounterStore } from '../shared-store.js';
import type { Limits } from '../types.js';

interface Cmd {
  cmd: 'acquire';
  key: string;
  limits: Limits;
  n: number;
  tag: string;
}

const store = new RemoteCounterStore(ipcChannel(process), { timeoutMs: 5000 });
process.on('message', (m: unknown) => {
  const c = m as Partial<Cmd> | null;
  if (c?.cmd !== 'acquire') return;
  const { key, limits, n, tag } = c as Cmd;
  void Promise.all(
    Array.from({ length: n }, (_, i) =>
      store.acquire({ key, limits, id: `${process.pid}:${tag}:${i}`, reserveTokens: 0 }),
    ),
  ).then((vs) => process.send?.({ cmd: 'done', tag, ok: vs.filter((v) => v.ok).length }));
});
process.send?.({ cmd: 'ready' });
