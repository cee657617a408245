/**
 * Store + snapshot benchmark (not a test): run with `node --expose-gc bench/dist/src/store-bench.js`.
 *  1. Snapshot rebuild: time and heap for a full resync of 10,000 models + 100,000 api keys,
 *     and the cost of one incremental put on top of it.
 *  2. put → watch-applied latency: 1,000 sequential admin writes, each timed from the write
 *     call until the config sync publishes a snapshot that contains it; on etcd and embedded.
 * Prints a Markdown table; numbers depend on the (shared) machine, so quote medians.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { hashApiKey, resourceKey, SnapshotBuilder } from '@aisix/core';
import {
  type ConfigSource,
  createEtcdStore,
  openEmbeddedStore,
  type ResourceStore,
  startConfigSync,
} from '@aisix/store';
import { startEtcd } from '@aisix/testkit';

const PREFIX = '/aisix';
const enc = new TextEncoder();
const gc = (globalThis as { gc?: () => void }).gc;

function pct(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

function syntheticEntries(models: number, apiKeys: number) {
  const entries: { key: string; value: Uint8Array; revision: number }[] = [];
  let rev = 1;
  const pkId = '00000000-0000-4000-8000-000000000001';
  entries.push({
    key: resourceKey(PREFIX, 'provider_keys', pkId),
    value: enc.encode(JSON.stringify({ display_name: 'pk', api_key: 'sk-up', provider: 'openai' })),
    revision: rev++,
  });
  for (let i = 0; i < models; i++) {
    const doc = {
      display_name: `model-${i}`,
      provider: 'openai',
      model_name: 'gpt-4o-mini',
      provider_key_id: pkId,
    };
    entries.push({
      key: resourceKey(PREFIX, 'models', `m-${i}`),
      value: enc.encode(JSON.stringify(doc)),
      revision: rev++,
    });
  }
  for (let i = 0; i < apiKeys; i++) {
    const doc = {
      key_hash: hashApiKey(`sk-caller-${i}`),
      allowed_models: [`model-${i % models}`, 'model-*'],
    };
    entries.push({
      key: resourceKey(PREFIX, 'api_keys', `k-${i}`),
      value: enc.encode(JSON.stringify(doc)),
      revision: rev++,
    });
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { entries, revision: rev };
}

function rebuildBench(models: number, apiKeys: number, rounds: number) {
  const { entries, revision } = syntheticEntries(models, apiKeys);
  const times: number[] = [];
  let heapDelta = 0;
  let putMs = 0;
  let kept: SnapshotBuilder | null = null;
  for (let r = 0; r < rounds; r++) {
    kept = null;
    gc?.();
    const before = process.memoryUsage().heapUsed;
    const builder = new SnapshotBuilder({ prefix: PREFIX });
    const t0 = performance.now();
    const snap = builder.resync(entries, revision);
    times.push(performance.now() - t0);
    kept = builder; // keep the snapshot reachable while the heap is measured
    if (snap.apiKeysByHash.size !== apiKeys || snap.modelsByAlias.size !== models) {
      throw new Error(
        `snapshot incomplete: ${snap.apiKeysByHash.size} keys, ${snap.modelsByAlias.size} models`,
      );
    }
    gc?.();
    heapDelta = Math.max(heapDelta, process.memoryUsage().heapUsed - before);
    const doc = { key_hash: hashApiKey('sk-new'), allowed_models: ['*'] };
    const t1 = performance.now();
    kept.put({
      key: resourceKey(PREFIX, 'api_keys', 'k-new'),
      value: enc.encode(JSON.stringify(doc)),
      revision: revision + 1,
    });
    putMs = performance.now() - t1;
  }
  times.sort((a, b) => a - b);
  return { medianMs: pct(times, 50), minMs: times[0] ?? 0, heapMB: heapDelta / 1048576, putMs };
}

async function latencyBench(name: string, store: ResourceStore, source: ConfigSource, puts: number) {
  const waiters = new Map<string, () => void>();
  const sync = startConfigSync({
    source,
    onSnapshot: (s) => {
      for (const [name, resolve] of waiters) {
        if (s.byName('models', name)) {
          waiters.delete(name);
          resolve();
        }
      }
    },
  });
  await sync.ready();
  const pkId = '00000000-0000-4000-8000-00000000000a';
  await store.create('provider_keys', pkId, {
    display_name: 'bench-pk',
    api_key: 'sk-up',
    provider: 'openai',
  });
  const lat: number[] = [];
  for (let i = 0; i < puts + 50; i++) {
    const display = `lat-${i}`;
    const seen = new Promise<void>((resolve) => waiters.set(display, resolve));
    const t0 = performance.now();
    await store.create('models', `lat-${i}`, {
      display_name: display,
      provider: 'openai',
      model_name: 'x',
      provider_key_id: pkId,
    });
    await seen;
    if (i >= 50) lat.push(performance.now() - t0); // first 50 are warm-up
  }
  await sync.stop();
  lat.sort((a, b) => a - b);
  return { name, p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] ?? 0 };
}

async function main() {
  const models = Number(process.env.BENCH_MODELS ?? 10_000);
  const keys = Number(process.env.BENCH_KEYS ?? 100_000);
  const puts = Number(process.env.BENCH_PUTS ?? 1000);
  if (!gc) console.error('note: run with --expose-gc for stable heap numbers');

  const rb = rebuildBench(models, keys, Number(process.env.BENCH_ROUNDS ?? 3));
  console.log(`\n## Snapshot rebuild (${models} models + ${keys} api keys)\n`);
  console.log('| full resync (median) | min | heap retained | one incremental api-key put |');
  console.log('|---|---|---|---|');
  console.log(
    `| ${rb.medianMs.toFixed(0)} ms | ${rb.minMs.toFixed(0)} ms | ${rb.heapMB.toFixed(1)} MB | ${rb.putMs.toFixed(1)} ms |`,
  );

  const rows = [];
  const dir = mkdtempSync(join(tmpdir(), 'aisix-bench-'));
  const emb = await openEmbeddedStore({ dir, prefix: PREFIX });
  rows.push(await latencyBench('embedded', emb.store, emb.source, puts));
  await emb.close();
  rmSync(dir, { recursive: true, force: true });

  const etcd = await startEtcd();
  const es = createEtcdStore({ endpoints: [etcd.endpoint], prefix: PREFIX });
  rows.push(await latencyBench('etcd', es.store, es.source, puts));
  await es.close();
  await etcd.stop();

  console.log(`\n## put → watch-applied latency (${puts} sequential puts, after 50 warm-up)\n`);
  console.log('| store | p50 | p99 | max |');
  console.log('|---|---|---|---|');
  for (const r of rows)
    console.log(`| ${r.name} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${r.max.toFixed(2)} ms |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
