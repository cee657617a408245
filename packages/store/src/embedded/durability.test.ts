/**
 * Durability of the embedded store: close/reopen, SIGKILL of a writing child process, torn and
 * corrupt log tails, and log compaction into a state file. The shared semantics (CRUD, watch)
 * are covered by the contract suite in ../contract/.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from '../types.js';
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

const plain = (l: LoadResult) => ({
  revision: l.revision,
  entries: l.entries.map((e) => [e.key, e.revision, Buffer.from(e.value).toString('utf8')]),
});

async function logFile(dir: string): Promise<string> {
  const logs = (await readdir(dir)).filter((n) => n.startsWith('log-'));
  assert.equal(logs.length, 1, `one log file, got ${logs.join(',')}`);
  return join(dir, logs[0] as string);
}

describe('embedded store durability', () => {
  test('data, revisions and history survive close and reopen', async () => {
    const dir = await tempDir();
    let db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    const a = await db.store.create('models', 'a', { display_name: 'a' });
    await db.store.create('models', 'b', { display_name: 'b' });
    await db.store.replace('models', 'a', { display_name: 'a2' });
    const del = await db.store.delete('models', 'b');
    const before = plain(await db.source.load());
    await db.close();

    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.deepEqual(plain(await db.source.load()), before);
    // The last write was a delete: the revision is still the counter, not the highest key revision.
    assert.equal(db.recovery.revision, del.revision);
    assert.equal(db.recovery.replayedRecords, 4);
    // Log records since the last state are watch history again after a restart.
    const events: number[] = [];
    const ac = new AbortController();
    const ended = db.source.watch(a.revision, (e) => events.push(...e.map((x) => x.revision)), ac.signal);
    const next = await db.store.create('models', 'c', { display_name: 'c' });
    assert.equal(next.revision, del.revision + 1);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    assert.deepEqual(await ended, { reason: 'aborted' });
    assert.deepEqual(events, [1, 2, 3, 4, 5]);
    await db.close();
  });

  test('a write and its audit record are one log frame: both survive a reopen, a torn tail drops both', async () => {
    const dir = await tempDir();
    let db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    const at = Date.now();
    const a = await db.store.create('models', 'a', { display_name: 'a' }, undefined, {
      audit: { at, doc: { action: 'create' } },
    });
    const file = await logFile(dir);
    const sizeBefore = (await stat(file)).size;
    const b = await db.store.replace('models', 'a', { display_name: 'a2' }, undefined, {
      audit: { at: at + 1, doc: { action: 'replace' } },
    });
    const sizeAfter = (await stat(file)).size;
    await db.close();

    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.equal(db.recovery.revision, b.revision);
    assert.equal((await db.store.get('models', 'a'))?.revision, b.revision);
    const page = await db.store.audit?.query({ limit: 10 });
    assert.deepEqual(
      page?.records.map((r) => [r.revision, r.doc.action]),
      [
        [b.revision, 'replace'],
        [a.revision, 'create'],
      ],
    );
    await db.close();

    // Tear the last transaction in the middle: neither its write nor its record comes back.
    await truncate(file, sizeBefore + Math.floor((sizeAfter - sizeBefore) / 2));
    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.equal(db.recovery.revision, a.revision);
    assert.deepEqual((await db.store.get('models', 'a'))?.value, { display_name: 'a' });
    assert.deepEqual(
      (await db.store.audit?.query({ limit: 10 }))?.records.map((r) => r.doc.action),
      ['create'],
    );
    await db.close();
  });

  test('a version 01 log is read and relabelled 02 before anything new is appended', async () => {
    const dir = await tempDir();
    let db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    await db.store.create('models', 'a', { display_name: 'a' });
    await db.close();
    const file = await logFile(dir);
    const buf = await readFile(file);
    buf.write('AISIXL01', 0, 'latin1');
    await writeFile(file, buf);
    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.equal((await db.store.get('models', 'a'))?.value.display_name, 'a');
    assert.equal((await readFile(file)).subarray(0, 8).toString('latin1'), 'AISIXL02');
    await db.close();
  });

  test('every write acknowledged before SIGKILL survives; reopen succeeds each time', async () => {
    const dir = await tempDir();
    const script = fileURLToPath(new URL('./crash-writer.fixture.js', import.meta.url));
    // Last acknowledged op per id across all runs.
    const acked = new Map<string, { op: string; revision: number }>();
    let maxAcked = 0;
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      // Kill at a different point each round, after a good number of acknowledged writes.
      const target = 800 + round * 700;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child too slow; stderr: ${err}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.split('\n').length > target) {
            clearTimeout(timer);
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`child exited early (${code}); stderr: ${err}`));
        });
      });
      await exited;
      const lines = out.split('\n');
      lines.pop(); // a partial last line was never fully acknowledged
      for (const line of lines) {
        const [, op, id, rev] = line.split(' ');
        assert.ok(op && id && rev, `bad line ${line}`);
        const revision = Number(rev);
        const prev = acked.get(id);
        if (!prev || prev.revision < revision) acked.set(id, { op, revision });
        maxAcked = Math.max(maxAcked, revision);
      }
    }

    const db = await openEmbeddedStore({ dir, prefix: '/aisix', logCompactBytes: 64 * 1024 });
    assert.ok(db.recovery.revision >= maxAcked, `revision ${db.recovery.revision} < acked ${maxAcked}`);
    assert.ok(acked.size > 2000);
    for (const [id, last] of acked) {
      const doc = await db.store.get('api_keys', id);
      const n = Number(id.split('-').pop());
      if (last.op === 'delete') {
        assert.equal(doc, null, `${id} was deleted at ${last.revision}`);
        continue;
      }
      if (doc === null) {
        // Only an unacknowledged delete that reached the disk may remove an acknowledged put.
        assert.equal(n % 5, 0, `${id} acknowledged at ${last.revision} is missing`);
        continue;
      }
      assert.ok(doc.revision >= last.revision, `${id}: revision ${doc.revision} < acked ${last.revision}`);
      assert.equal(doc.value.key_hash, `h-${id}`);
    }
    // Every stored document is whole JSON (no torn state), and the store keeps writing.
    const loaded = await db.source.load();
    for (const e of loaded.entries) JSON.parse(Buffer.from(e.value).toString('utf8'));
    const w = await db.store.create('models', 'after-crash', { display_name: 'x' });
    assert.equal(w.revision, db.recovery.revision + 1);
    await db.close();
  });

  test('a log torn mid-record is cut back to the last whole record', async () => {
    const dir = await tempDir();
    let db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    await db.store.create('models', 'a', { display_name: 'a' });
    await db.store.create('models', 'b', { display_name: 'b' });
    await db.store.create('models', 'c', { display_name: 'c' });
    await db.close();
    const log = await logFile(dir);
    const size = (await stat(log)).size;
    await truncate(log, size - 5);

    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.ok(db.recovery.truncatedBytes > 0);
    assert.equal(db.recovery.revision, 2);
    assert.deepEqual(
      (await db.store.list('models')).map((d) => [d.id, d.revision]),
      [
        ['a', 1],
        ['b', 2],
      ],
    );
    // Appends continue cleanly after the cut, and survive another reopen.
    assert.equal((await db.store.create('models', 'd', { display_name: 'd' })).revision, 3);
    await db.close();
    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.equal(db.recovery.truncatedBytes, 0);
    assert.deepEqual(
      (await db.store.list('models')).map((d) => d.id),
      ['a', 'b', 'd'],
    );
    await db.close();
  });

  test('a tail record with a bad checksum or trailing garbage is discarded', async () => {
    const dir = await tempDir();
    let db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    await db.store.create('models', 'a', { display_name: 'a' });
    await db.store.create('models', 'b', { display_name: 'b' });
    await db.close();
    const log = await logFile(dir);
    const buf = await readFile(log);
    buf[buf.length - 2] = (buf[buf.length - 2] ?? 0) ^ 0xff; // flip a byte inside the last record
    await writeFile(log, Buffer.concat([buf, Buffer.from([1, 2, 3])]));

    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.ok(db.recovery.truncatedBytes > 3);
    assert.deepEqual(
      (await db.store.list('models')).map((d) => d.id),
      ['a'],
    );
    assert.equal((await db.store.create('models', 'c', { display_name: 'c' })).revision, 2);
    await db.close();
  });

  test('log compaction into a state file keeps data, revisions and the counter', async () => {
    const dir = await tempDir();
    // A tiny threshold compacts many times while writing.
    let db = await openEmbeddedStore({ dir, prefix: '/aisix', logCompactBytes: 2048 });
    for (let i = 0; i < 300; i++) {
      await db.store.create(
        'models',
        `m${i}`,
        { display_name: `m${i}`, i },
        { field: 'display_name', value: `m${i}` },
      );
      if (i % 4 === 0) await db.store.replace('models', `m${i}`, { display_name: `m${i}`, i, r: true });
      if (i % 7 === 0) await db.store.delete('models', `m${i}`);
    }
    const last = await db.store.delete('models', 'm1');
    const before = plain(await db.source.load());
    await db.close();

    const files = await readdir(dir);
    assert.ok(files.includes('state'), files.join(','));
    assert.equal(files.filter((f) => f.startsWith('log-')).length, 1);
    assert.ok(!files.includes('state.tmp'));
    const lastLog = await logFile(dir);
    assert.notEqual(lastLog, join(dir, 'log-00000001'), 'the log generation moved on');

    db = await openEmbeddedStore({ dir, prefix: '/aisix', logCompactBytes: 2048 });
    assert.deepEqual(plain(await db.source.load()), before);
    assert.equal(db.recovery.revision, last.revision);
    assert.ok(db.recovery.replayedRecords < 300, `replayed ${db.recovery.replayedRecords} records`);
    // Uniqueness still holds for names restored from the state file.
    await assert.rejects(
      db.store.create('models', 'dup', { display_name: 'm2' }, { field: 'display_name', value: 'm2' }),
      { code: 'conflict' },
    );
    assert.equal(
      (await db.store.create('models', 'new', { display_name: 'new' })).revision,
      last.revision + 1,
    );
    await db.close();
  });

  test('a corrupt state file fails the open with a clear error instead of losing data', async () => {
    const dir = await tempDir();
    let db = await openEmbeddedStore({ dir, prefix: '/aisix', logCompactBytes: 0 });
    await db.store.create('models', 'a', { display_name: 'a' });
    await db.store.create('models', 'b', { display_name: 'b' });
    await db.close();
    const state = join(dir, 'state');
    const buf = await readFile(state);
    await writeFile(state, buf.subarray(0, buf.length - 4));
    await assert.rejects(openEmbeddedStore({ dir, prefix: '/aisix' }), /state file .* is corrupt/);
    // The failed open released the lock.
    await writeFile(state, buf);
    db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    assert.equal((await db.store.list('models')).length, 2);
    await db.close();
  });
});
