/**
 * The `ws` library, loaded with the first realtime session (synchronously: the upgrade path is
 * synchronous) rather than at startup: a gateway that never serves `/v1/realtime` keeps its
 * ~1 MB of heap free.
 */
import { createRequire } from 'node:module';

type Ws = typeof import('ws');
let loaded: Ws | undefined;

export function ws(): Ws {
  loaded ??= createRequire(import.meta.url)('ws') as Ws;
  return loaded;
}

/** WebSocket `readyState` values (the WHATWG API's, which `ws` follows). */
export const CONNECTING = 0;
export const OPEN = 1;
