/**
 * Runs the store contract against the embedded store, one fresh temp data dir per case.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedStore } from '../embedded/index.js';
import { runStoreContract } from './index.js';

runStoreContract({
  name: 'embedded',
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'aisix-embedded-contract-'));
    const db = await openEmbeddedStore({ dir, prefix: '/aisix' });
    return {
      store: db.store,
      source: db.source,
      putRaw: (key, value) => db.putRaw(key, value),
      async compact(revision) {
        db.compact(revision);
      },
      async close() {
        await db.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
});
