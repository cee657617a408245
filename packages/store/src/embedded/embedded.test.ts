/**
 * Embedded-store behaviour beyond the shared contract: the data-dir lock (same process, other
 * process, stale lock), bounded watch history, close semantics and option checks.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { WatchEvent } from '../types.js';
import { openEmbeddedStore } from './index.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'aisix-embedded-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const script = fileURLToPath(new URL('./crash-writer.fixture.js', import.meta.url));

describe('embedded store lock', () => {
  test('a second open of the same dir in this process fails until the first closes', async () => {
    const dir = await tempDir();
    const db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    await assert.rejects(openEmbeddedStore({ dir, prefix: '/aisix' }), /already open in this process/);
    // A relative spelling of the same dir is the same dir.
    await assert.rejects(openEmbeddedStore({ dir: join(dir, '.'), prefix: '/aisix' }), /already open/);
    await db.store.create('models', 'a', { display_name: 'a' });
    await db.close();
    const again = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.equal((await again.store.list('models')).length, 1);
    await again.close();
  });

  test('a dir held by another live process cannot be opened; after it dies the lock is taken over', async () => {
    const dir = await tempDir();
    const child = spawn(process.execPath, [script, dir, 'hold'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`holder exited early (${code})`)));
      });
      await assert.rejects(
        openEmbeddedStore({ dir, prefix: '/aisix' }),
        new RegExp(`locked by running process ${child.pid}`),
      );
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // The holder's LOCK file is still there, naming a dead pid.
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(child.pid));
    const db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
    await db.close();
  });

  test('a stale lock naming this process’s own pid (container restart as pid 1) is taken over', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), `${process.pid}\n`);
    const db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    await db.close();
  });
});

describe('embedded store watch history and close', () => {
  test('history is bounded: older starts resolve `compacted` at the first retained revision', async () => {
    const dir = await tempDir();
    const db = await openEmbeddedStore({ dir, prefix: '/aisix', historyLimit: 5 });
    for (let i = 1; i <= 12; i++) await db.store.create('models', `m${i}`, { display_name: `m${i}` });
    const signal = AbortSignal.timeout(5000);
    assert.deepEqual(await db.source.watch(7, () => {}, signal), { reason: 'compacted', compactRevision: 8 });
    const got: WatchEvent[] = [];
    const ac = new AbortController();
    const ended = db.source.watch(8, (e) => got.push(...e), ac.signal);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await ended;
    assert.deepEqual(
      got.map((e) => e.revision),
      [8, 9, 10, 11, 12],
    );
    await db.close();
  });

  test('a reopened store has no history before its last state file', async () => {
    const dir = await tempDir();
    let db = await openEmbeddedStore({ dir, prefix: '/aisix', logCompactBytes: 0 });
    for (let i = 1; i <= 3; i++) await db.store.create('models', `m${i}`, { display_name: `m${i}` });
    await db.close();
    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    const end = await db.source.watch(1, () => {}, AbortSignal.timeout(5000));
    assert.deepEqual(end, { reason: 'compacted', compactRevision: 4 });
    await db.close();
  });

  test('close ends watches with `closed` after delivering committed events; later calls fail `unavailable`', async () => {
    const dir = await tempDir();
    const db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    const got: number[] = [];
    const ended = db.source.watch(
      1,
      (e) => got.push(...e.map((x) => x.revision)),
      new AbortController().signal,
    );
    const writes = [1, 2, 3].map((i) => db.store.create('models', `m${i}`, { display_name: `m${i}` }));
    await db.close();
    assert.deepEqual(await ended, { reason: 'closed' });
    // Writes queued before close were committed, acknowledged and delivered.
    assert.deepEqual(
      (await Promise.all(writes)).map((w) => w.revision),
      [1, 2, 3],
    );
    assert.deepEqual(got, [1, 2, 3]);
    await assert.rejects(db.store.create('models', 'late', {}), { code: 'unavailable' });
    await assert.rejects(db.store.get('models', 'm1'), { code: 'unavailable' });
    assert.deepEqual(await db.source.watch(1, () => {}, new AbortController().signal), { reason: 'closed' });
    await db.close(); // idempotent
  });

  test('closing the source ends only its watches; the store keeps working', async () => {
    const dir = await tempDir();
    const db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    const ended = db.source.watch(1, () => {}, new AbortController().signal);
    await db.source.close();
    assert.deepEqual(await ended, { reason: 'closed' });
    await assert.rejects(db.source.load(), { code: 'unavailable' });
    assert.equal((await db.store.create('models', 'a', { display_name: 'a' })).revision, 1);
    await db.close();
  });

  test('a throwing watch callback ends that watch with `error`', async () => {
    const dir = await tempDir();
    const db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    const ended = db.source.watch(
      1,
      () => {
        throw new Error('boom');
      },
      new AbortController().signal,
    );
    await db.store.create('models', 'a', { display_name: 'a' });
    const end = await ended;
    assert.equal(end.reason, 'error');
    assert.equal(end.reason === 'error' && end.error.message, 'boom');
    await db.close();
  });
});

describe('embedded store data dir', () => {
  test('a missing nested data dir is created', async () => {
    const dir = join(await tempDir(), 'nested', 'data');
    const db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    await db.store.create('models', 'a', { display_name: 'a' });
    await db.close();
    const again = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.equal((await again.store.get('models', 'a'))?.revision, 1);
    await again.close();
  });
});

describe('embedded store options', () => {
  test('bad options and raw keys outside the prefix are refused with a hint', async () => {
    await assert.rejects(openEmbeddedStore({ dir: '', prefix: '/aisix' }), /non-empty path/);
    const dir = await tempDir();
    await assert.rejects(openEmbeddedStore({ dir, prefix: '/aisix', historyLimit: 0 }), /historyLimit/);
    const db = await openEmbeddedStore({ dir, prefix: '/aisix/' });
    assert.equal(db.source.prefix, '/aisix');
    await assert.rejects(db.putRaw('/aisixx/models/a', new Uint8Array()), /not under \/aisix\//);
    await db.close();
  });
});
