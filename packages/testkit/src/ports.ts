/**
 * Free TCP ports for child processes that must be told their port up front.
 *
 * Ports are drawn below the kernel's ephemeral range: a port the OS handed out with
 * `listen(0)` and that was closed again can be taken a moment later as the local port of some
 * outgoing connection (etcd clients, undici pools, the other test files running in parallel),
 * and the child's bind then fails with EADDRINUSE. Ports outside that range are only ever taken
 * by an explicit bind, which this helper checks, and never handed out twice per process.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 0 ? n : 32768;
  } catch {
    return 32768;
  }
}

const LOW = 10_000;
export const EPHEMERAL_LOW = ephemeralLow();
const HIGH = Math.max(LOW + 1000, EPHEMERAL_LOW);

function tryBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that is free now and outside the ephemeral range. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    handedOut.add(port); // reserved before the await, so concurrent callers never share one
    if (await tryBind(port)) return port;
    handedOut.delete(port);
  }
  throw new Error(`freePort: no free port found in ${LOW}-${HIGH}`);
}
