/**
 * The etcd read path (`ConfigSource`) over the JSON gateway: `load` ranges `<prefix>/` at
 * one revision (paged, every page pinned to the first page's revision), `watch` runs one
 * watch stream (watch-stream.ts). Writes live in resource-store.ts (etcd3).
 */
import type { ConfigSource, LoadResult, RawEntry, WatchEnd, WatchEvent } from '../types.js';
import { type GatewayClient, GatewayError } from './gateway-client.js';
import { b64, int, prefixRangeEnd, unb64, utf8, watchPrefix } from './keys.js';
import { runWatch } from './watch-stream.js';

export interface GatewaySourceOptions {
  prefix: string;
  /** Keys per range page; big prefixes are read in pages at one pinned revision. */
  pageSize?: number;
  /** Silence after which the watch checks whether it is stalled (watch-stream.ts). */
  idleProbeMs?: number;
}

interface RawRangeResponse {
  header?: { revision?: string };
  kvs?: { key?: string; value?: string; mod_revision?: string }[];
  more?: boolean;
}

/** A compaction between two pages invalidates the pinned revision: start the load over. */
const LOAD_ATTEMPTS = 3;

export class GatewayConfigSource implements ConfigSource {
  readonly prefix: string;
  readonly #client: GatewayClient;
  readonly #key: Buffer;
  readonly #end: Uint8Array;
  readonly #pageSize: number;
  readonly #idleProbeMs: number;

  constructor(client: GatewayClient, opts: GatewaySourceOptions) {
    this.prefix = opts.prefix;
    this.#client = client;
    this.#key = utf8(watchPrefix(opts.prefix));
    this.#end = prefixRangeEnd(this.#key);
    this.#pageSize = opts.pageSize ?? 1000;
    this.#idleProbeMs = opts.idleProbeMs ?? 30_000;
  }

  async ping(signal: AbortSignal): Promise<void> {
    await this.#client.call('/v3/maintenance/status', {}, signal);
  }

  async load(signal?: AbortSignal): Promise<LoadResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#loadOnce(signal);
      } catch (err) {
        const compacted = err instanceof GatewayError && err.message.includes('compacted');
        if (!compacted || attempt >= LOAD_ATTEMPTS) throw err;
      }
    }
  }

  async #loadOnce(signal?: AbortSignal): Promise<LoadResult> {
    const entries: RawEntry[] = [];
    let revision = 0;
    let start: Uint8Array = this.#key;
    for (;;) {
      const res = await this.#client.call<RawRangeResponse>(
        '/v3/kv/range',
        {
          key: b64(start),
          range_end: b64(this.#end),
          limit: String(this.#pageSize),
          ...(revision > 0 ? { revision: String(revision) } : {}),
        },
        signal,
      );
      if (revision === 0) revision = int(res.header?.revision);
      const kvs = res.kvs ?? [];
      let lastKey: Buffer | undefined;
      for (const kv of kvs) {
        lastKey = unb64(kv.key);
        entries.push({
          key: lastKey.toString('utf8'),
          value: unb64(kv.value),
          revision: int(kv.mod_revision),
        });
      }
      if (!res.more || !lastKey) break;
      // Next page starts right after the last key: append a zero byte.
      start = Buffer.concat([lastKey, Buffer.from([0])]);
    }
    if (revision <= 0)
      throw new GatewayError('etcd range: response without a header revision', { transport: false });
    return { revision, entries };
  }

  watch(
    fromRevision: number,
    onEvents: (events: WatchEvent[]) => void,
    signal: AbortSignal,
  ): Promise<WatchEnd> {
    return runWatch(this.#client, {
      key: this.#key,
      rangeEnd: this.#end,
      from: fromRevision,
      onEvents,
      signal,
      idleProbeMs: this.#idleProbeMs,
    });
  }

  async close(): Promise<void> {
    // The client is shared with the store; EtcdStore.close() closes it.
  }
}
