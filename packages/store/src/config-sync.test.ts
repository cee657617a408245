import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { ConfigSnapshot } from '@aisix/core';
import { configMetricsText } from './config-metrics.js';
import { type ConfigSync, startConfigSync } from './config-sync.js';
import type { ConfigSource, LoadResult, RawEntry, WatchEnd, WatchEvent } from './types.js';

const P = '/aisix';
const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));
const model = (name: string, extra: Record<string, unknown> = {}) =>
  json({ display_name: name, provider: 'openai', model_name: 'gpt-4o', provider_key_id: 'pk1', ...extra });

/** An in-memory ConfigSource with the same revision/watch semantics, plus fault switches. */
class MemSource implements ConfigSource {
  readonly prefix = P;
  rev = 1;
  readonly data = new Map<string, RawEntry>();
  readonly log: WatchEvent[] = [];
  /** When set, load() fails with this error. */
  failWith: Error | undefined;
  /** When set, load() waits for it. */
  gate: Promise<void> | undefined;
  loads = 0;
  #watchers = new Set<{ from: number; on: (e: WatchEvent[]) => void; end: (w: WatchEnd) => void }>();

  async load(): Promise<LoadResult> {
    this.loads++;
    await this.gate;
    if (this.failWith) throw this.failWith;
    const entries = [...this.data.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
    return { revision: this.rev, entries };
  }

  watch(from: number, onEvents: (e: WatchEvent[]) => void, signal: AbortSignal): Promise<WatchEnd> {
    return new Promise((resolve) => {
      const w = { from, on: onEvents, end: resolve };
      const backlog = this.log.filter((e) => e.revision >= from);
      if (backlog.length > 0) queueMicrotask(() => onEvents(backlog));
      this.#watchers.add(w);
      signal.addEventListener('abort', () => {
        this.#watchers.delete(w);
        resolve({ reason: 'aborted' });
      });
    });
  }

  put(key: string, value: Uint8Array): void {
    this.rev++;
    this.data.set(key, { key, value, revision: this.rev });
    this.#emit({ type: 'put', key, value, revision: this.rev });
  }

  del(key: string): void {
    this.rev++;
    this.data.delete(key);
    this.#emit({ type: 'delete', key, revision: this.rev });
  }

  /** Ends every open watch gracefully (the loop re-loads, as after a file reload). */
  closeWatches(): void {
    for (const w of this.#watchers) w.end({ reason: 'closed' });
    this.#watchers.clear();
  }

  /** Ends every open watch with a transport error. */
  breakWatches(error: Error): void {
    for (const w of this.#watchers) w.end({ reason: 'error', error });
    this.#watchers.clear();
  }

  #emit(e: WatchEvent): void {
    this.log.push(e);
    for (const w of this.#watchers) w.on([e]);
  }

  async close(): Promise<void> {}
}

const FAST = { minBackoffMs: 5, maxBackoffMs: 20, resyncDelayMs: 1 };
const syncs: ConfigSync[] = [];
const dirs: string[] = [];
function start(opts: Parameters<typeof startConfigSync>[0]): ConfigSync {
  const s = startConfigSync({ watch: FAST, ...opts });
  syncs.push(s);
  return s;
}
after(async () => {
  for (const s of syncs) await s.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const settled = async (p: Promise<unknown>, ms = 50) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('startConfigSync', () => {
  test('before the first load: empty snapshot, never_loaded, not ready', async () => {
    const src = new MemSource();
    src.data.set(`${P}/models/m`, { key: `${P}/models/m`, value: model('m'), revision: 1 });
    let open!: () => void;
    src.gate = new Promise((r) => {
      open = r;
    });
    const sync = start({ source: src });
    assert.equal(sync.snapshot.loaded, false);
    assert.equal(await settled(sync.ready()), false);
    const body = sync.statusJson();
    assert.equal(body.state, 'never_loaded');
    assert.equal('applied' in body, false);
    assert.equal('last_reload' in body, false);
    assert.equal(body.last_failure, null);
    assert.deepEqual(body.rejected, []);
    assert.equal(sync.status().applied_revision, 0);
    assert.equal(sync.status().snapshot_age_seconds, null);
    open();
    await sync.ready();
    assert.equal(sync.snapshot.loaded, true);
    assert.equal(sync.snapshot.byName('models', 'm')?.id, 'm');
    const after = sync.statusJson() as {
      state: string;
      source: Record<string, unknown>;
      applied: Record<string, unknown>;
    };
    assert.equal(after.state, 'synced');
    assert.equal(after.source.type, 'etcd');
    assert.equal(after.source.connected, true);
    assert.equal(after.source.observed_revision, 1);
    assert.match(String(after.source.source_hash), /^[0-9a-f]{64}$/);
    assert.equal(after.applied.applied_revision, 1);
    assert.equal(after.applied.apply_seq, 1);
    assert.equal(after.applied.config_hash, after.source.source_hash);
  });

  test('watch events swap in new snapshots; only full loads count as reloads', async () => {
    const src = new MemSource();
    const seen: ConfigSnapshot[] = [];
    const sync = start({ source: src, onSnapshot: (s) => seen.push(s) });
    await sync.ready();
    const first = sync.snapshot;
    src.put(`${P}/models/a`, model('a'));
    src.put(`${P}/models/b`, model('b'));
    src.del(`${P}/models/a`);
    await until('three events applied', () => sync.snapshot.revision === 4);
    assert.deepEqual([...sync.snapshot.byId('models').keys()], ['b']);
    assert.equal(first.byId('models').size, 0, 'the first snapshot is untouched');
    assert.equal(seen.length, 4);
    const st = sync.status();
    assert.equal(st.reloads_total, 1);
    assert.equal(st.source.observed_revision, 4);
    assert.equal(st.applied_revision, 4);
    assert.equal(st.last_reload?.successful, true);
  });

  test('a failing source: fetch failure recorded without credentials, last snapshot keeps serving, recovery', async () => {
    const src = new MemSource();
    src.put(`${P}/models/a`, model('a'));
    let t = Date.UTC(2026, 0, 1);
    const sync = start({ source: src, now: () => t });
    await sync.ready();
    const served = sync.snapshot;
    src.failWith = new Error('connect ECONNREFUSED http://root:hunter2@10.0.0.1:2379');
    t += 5_000;
    src.breakWatches(new Error('stream reset'));
    await until('a load failure', () => sync.status().reload_failures_total.fetch >= 2);
    const st = sync.status();
    assert.equal(st.source.connected, false);
    assert.equal(st.last_reload?.successful, false);
    assert.equal(st.last_failure?.last_error_kind, 'fetch');
    assert.equal(st.last_failure?.at, '2026-01-01T00:00:05Z');
    assert.doesNotMatch(JSON.stringify(sync.statusJson()), /hunter2/);
    assert.equal(sync.snapshot, served, 'failures never replace the snapshot');
    assert.equal(sync.snapshot.byName('models', 'a')?.id, 'a');
    src.failWith = undefined;
    await until('reconnect', () => sync.status().source.connected);
    assert.equal(sync.status().last_reload?.successful, true);
    assert.ok(sync.status().last_failure !== null, 'last_failure is sticky');
    const metrics = configMetricsText(sync);
    assert.match(metrics, /^aisix_config_reload_failures_total\{reason="fetch"\} [1-9]\d*$/m);
    assert.match(metrics, /^aisix_config_reloads_total [2-9]\d*$/m);
  });

  test('the cache is written after applies and replayed while the source is unreachable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aisix-sync-'));
    dirs.push(dir);
    const cachePath = join(dir, 'cache', 'config.json');
    const src = new MemSource();
    src.put(`${P}/models/a`, model('a'));
    const s1 = start({ source: src, cachePath });
    await s1.ready();
    src.put(`${P}/models/b`, model('b'));
    src.put(`${P}/models/a`, enc.encode('{corrupt')); // pinned: a keeps serving
    await until('events applied', () => s1.snapshot.revision === 4);
    await s1.stop();
    const file = JSON.parse(await readFile(cachePath, 'utf8'));
    assert.equal(file.revision, 4);
    assert.equal(file.entries.length, 2);
    assert.equal(file.stale.length, 1);

    const down = new MemSource();
    down.failWith = new Error('unreachable');
    const s2 = start({ source: down, cachePath });
    await s2.ready();
    assert.equal(s2.snapshot.loaded, true);
    assert.deepEqual([...s2.snapshot.byId('models').keys()].sort(), ['a', 'b']);
    assert.equal(s2.snapshot.byId('models').get('a')?.revision, 2, 'the pinned last-good value');
    const body = s2.statusJson() as { state: string; rejected: { serving_stale_since?: string }[] };
    assert.equal(body.state, 'degraded');
    assert.ok(body.rejected[0]?.serving_stale_since !== undefined);
    assert.equal(s2.status().reloads_total, 0, 'a cache replay is not a live reload');
    await until('the live attempt failed', () => s2.status().reload_failures_total.fetch >= 1);
    assert.equal(s2.status().source.connected, false);
  });

  test('a corrupt cache is ignored: not ready until the source answers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aisix-sync-'));
    dirs.push(dir);
    const cachePath = join(dir, 'config.json');
    await (await import('node:fs/promises')).writeFile(cachePath, '{"version":1,');
    const src = new MemSource();
    src.failWith = new Error('down');
    const sync = start({ source: src, cachePath });
    await until('a load attempt', () => src.loads >= 1);
    assert.equal(await settled(sync.ready()), false);
    src.failWith = undefined;
    await sync.ready();
    assert.equal(sync.snapshot.loaded, true);
  });

  test('file mode omits connection fields; metrics list every kind', async () => {
    const src = new MemSource();
    src.put(`${P}/teams/t`, json({}));
    const sync = start({ source: src, sourceType: 'file' });
    await sync.ready();
    const body = sync.statusJson() as {
      state: string;
      source: Record<string, unknown>;
      applied: Record<string, unknown>;
    };
    assert.equal(body.state, 'out_of_sync');
    assert.deepEqual(Object.keys(body.source).sort(), ['observed_at', 'source_hash', 'type']);
    assert.equal('applied_revision' in body.applied, false);
    const m = configMetricsText(sync);
    assert.match(m, /^aisix_config_rejected_resources\{kind="teams"\} 1$/m);
    assert.match(m, /^aisix_config_rejected_resources\{kind="oidc_providers"\} 0$/m);
    assert.match(m, /^aisix_config_hash_info\{hash="[0-9a-f]{64}"\} 1$/m);
    assert.doesNotMatch(m, /aisix_config_source_connected/);
  });

  test('embedded source: reported like etcd (connected, revisions, store metrics)', async () => {
    const src = new MemSource();
    src.put(`${P}/models/m`, model('m'));
    const sync = start({ source: src, sourceType: 'embedded' });
    await sync.ready();
    const body = sync.statusJson() as { source: Record<string, unknown>; applied: Record<string, unknown> };
    assert.deepEqual(body.source.type, 'embedded');
    assert.equal(body.source.connected, true);
    assert.equal(body.source.observed_revision, 2);
    assert.equal(body.applied.applied_revision, 2);
    const m = configMetricsText(sync);
    assert.match(m, /^aisix_config_source_connected 1$/m);
    assert.match(m, /^aisix_config_observed_revision 2$/m);
  });

  test('file mode: a rejected reload turns out_of_sync with its rows until a later revision applies', async () => {
    let clock = Date.parse('2026-08-11T10:00:00Z');
    const src = new MemSource();
    src.data.set(`${P}/models/m`, { key: `${P}/models/m`, value: model('m'), revision: 1 });
    const hashes = new Map([[1, 'a'.repeat(64)]]);
    const sync = start({
      source: src,
      sourceType: 'file',
      now: () => clock,
      revisionHash: (r) => hashes.get(r),
    });
    await sync.ready();
    type Body = {
      state: string;
      source: Record<string, unknown>;
      applied: Record<string, unknown>;
      last_reload: { successful: boolean; at: string };
      last_failure: { at: string; last_error_kind: string; last_error: string } | null;
      rejected: Record<string, unknown>[];
    };
    const body = (): Body => sync.statusJson() as unknown as Body;
    assert.equal(body().state, 'synced');
    assert.equal(body().source.source_hash, 'a'.repeat(64), 'the source hash, not the entry hash');
    assert.equal(body().applied.config_hash, 'a'.repeat(64));
    assert.equal(body().applied.apply_seq, 1);
    assert.equal(sync.status().reloads_total, 1);

    clock += 5000;
    const report =
      'resources file r.yaml: 2 error(s):\n  - (file): unknown top-level key "x"\n  - models[0] ("m"): bad';
    sync.reportSourceRejection({
      reason: 'validate',
      message: report,
      errors: [
        { resource_kind: 'models', resource_id: 'm', message: 'models[0] ("m"): bad' },
        { resource_kind: '', resource_id: '', message: '(file): unknown top-level key "x"' },
      ],
      revision: 1,
      sourceHash: 'b'.repeat(64),
    });
    const bad = body();
    assert.equal(bad.state, 'out_of_sync');
    assert.equal(bad.source.source_hash, 'b'.repeat(64), 'source_hash = the rejected bytes');
    assert.equal(bad.applied.config_hash, 'a'.repeat(64), 'config_hash = what is still served');
    assert.deepEqual(bad.last_reload, { successful: false, at: '2026-08-11T10:00:05Z' });
    assert.deepEqual(bad.last_failure, {
      at: '2026-08-11T10:00:05Z',
      last_error_kind: 'validate',
      last_error: report,
    });
    assert.deepEqual(
      bad.rejected.map((r) => [
        r.resource_kind,
        r.resource_id,
        r.last_error_kind,
        r.last_error,
        r.first_seen_at,
      ]),
      [
        ['', '', 'validate', '(file): unknown top-level key "x"', '2026-08-11T10:00:05Z'],
        ['models', 'm', 'validate', 'models[0] ("m"): bad', '2026-08-11T10:00:05Z'],
      ],
    );
    assert.equal(sync.snapshot.byName('models', 'm')?.id, 'm', 'the previous snapshot keeps serving');
    assert.equal(sync.status().reload_failures_total.validate, 1);
    let m = configMetricsText(sync);
    assert.match(m, /^aisix_config_reload_failures_total\{reason="validate"\} 1$/m);
    assert.match(m, /^aisix_config_last_reload_successful 0$/m);
    assert.match(m, /^aisix_config_rejected_resources\{kind="models"\} 1$/m);
    assert.match(m, /^aisix_config_rejected_resources\{kind=""\} 1$/m);

    // The same error again keeps first_seen_at; an unreadable file keeps the last hash seen.
    clock += 5000;
    sync.reportSourceRejection({
      reason: 'fetch',
      message: 'resources file r.yaml: 1 error(s):\n  - (file): cannot read file: ENOENT',
      errors: [{ resource_kind: 'models', resource_id: 'm', message: 'models[0] ("m"): bad' }],
      revision: 1,
    });
    const gone = body();
    assert.equal(gone.state, 'out_of_sync');
    assert.equal(gone.source.source_hash, 'b'.repeat(64));
    assert.deepEqual(
      gone.rejected.map((r) => [r.last_error_kind, r.first_seen_at, r.last_seen_at]),
      [['fetch', '2026-08-11T10:00:05Z', '2026-08-11T10:00:10Z']],
    );
    assert.equal(gone.last_failure?.last_error_kind, 'fetch');
    assert.deepEqual(sync.status().reload_failures_total, { fetch: 1, parse: 0, validate: 1 });

    // A re-load of the revision in force (a reload that was already under way) does not clear it.
    src.closeWatches();
    await until('the re-load at revision 1', () => sync.status().reloads_total === 2);
    assert.equal(body().state, 'out_of_sync');
    assert.equal(body().last_reload.successful, false, 'the latest reload is still the rejected one');

    // A good reload: a new revision with its own hash, applied whole.
    hashes.set(2, 'c'.repeat(64));
    src.rev = 2;
    src.data.set(`${P}/models/n`, { key: `${P}/models/n`, value: model('n'), revision: 2 });
    src.closeWatches();
    await until('the reload at revision 2', () => sync.status().reloads_total === 3);
    const good = body();
    assert.equal(good.state, 'synced');
    assert.deepEqual(good.rejected, []);
    assert.equal(good.last_reload.successful, true);
    assert.equal(good.source.source_hash, 'c'.repeat(64));
    assert.equal(good.applied.config_hash, 'c'.repeat(64));
    assert.equal(good.applied.apply_seq, 2, 'apply_seq follows the file hash');
    assert.ok(good.last_failure !== null, 'last_failure is sticky');
    m = configMetricsText(sync);
    assert.match(m, /^aisix_config_last_reload_successful 1$/m);
    assert.match(m, /^aisix_config_rejected_resources\{kind="models"\} 0$/m);
    assert.doesNotMatch(m, /kind=""/);
  });
});
