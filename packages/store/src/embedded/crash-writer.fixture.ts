/**
 * Child process for the embedded store's crash test (`durability.test.ts`); not part of the
 * package API. Opens the store in `argv[2]` and writes forever with several concurrent writers
 * (so batches group-commit) and a tiny log-compaction threshold (so kills also land during
 * state rewrites). After each acknowledged write it prints `ack <op> <id> <revision>`; the
 * parent SIGKILLs it at some point and checks every acknowledged write survived.
 *
 * `argv[3] === 'hold'` only opens the store, prints `ready`, and waits (for the lock test).
 */
import { openEmbeddedStore } from './index.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: crash-writer.fixture.js <dir> [hold]');
const db = await openEmbeddedStore({ dir, prefix: '/aisix', logCompactBytes: 64 * 1024 });

if (process.argv[3] === 'hold') {
  process.stdout.write('ready\n');
  setInterval(() => {}, 1 << 30);
} else {
  // Each run uses its own id space so creates never collide with earlier runs on the same dir.
  const run = `${process.pid}-${db.recovery.revision}`;
  let next = 0;
  const writer = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      const id = `${run}-${n}`;
      const w = await db.store.create(
        'api_keys',
        id,
        { key_hash: `h-${id}`, n },
        { field: 'key_hash', value: `h-${id}` },
      );
      process.stdout.write(`ack put ${id} ${w.revision}\n`);
      if (n % 3 === 0) {
        const r = await db.store.replace('api_keys', id, { key_hash: `h-${id}`, n, replaced: true });
        process.stdout.write(`ack put ${id} ${r.revision}\n`);
      }
      if (n % 5 === 0) {
        const d = await db.store.delete('api_keys', id);
        process.stdout.write(`ack delete ${id} ${d.revision}\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
}
