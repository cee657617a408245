/**
 * The audit trail through the real CLI process on the embedded store, with the retention knob
 * set from the environment (`AISIX_ADMIN__AUDIT__MAX_RECORDS`, i.e. `admin.audit.max_records`):
 * the trail keeps only the newest records, names the admin key by its id, survives a restart
 * (it lives in the store's data dir), and an invalid knob stops the boot with a clear error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  ADMIN_KEY,
  AdminClient,
  type AisixProcess,
  MAIN,
  ROOT,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

interface Trail {
  records: { revision: number; actor: string; action: string; kind: string; id: string }[];
  next_cursor: string | null;
}

describe('audit trail on a single process (embedded store)', () => {
  const dir = tempDir('audit-trail');
  let proc: AisixProcess | undefined;
  after(async () => {
    await proc?.kill();
    removeDir(dir);
  });

  const start = async () => {
    proc = await startAisix({
      name: 'solo',
      dir,
      role: 'all',
      env: { AISIX_ADMIN__AUDIT__MAX_RECORDS: '4' },
    });
    await waitStatus(proc, `${proc.adminUrl}/readyz`, 200, 60_000);
    return new AdminClient(proc.adminUrl);
  };

  test('retention from config keeps the newest records; the trail survives a restart', async () => {
    let api = await start();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await api.create('api_keys', { display_name: `k${i}`, allowed_models: [] })).id);
    }
    const trail = await waitUntil(
      'retention down to 4 records',
      async () => {
        const r = await api.raw('GET', '/audit');
        const t = JSON.parse(r.body) as Trail;
        return t.records.length === 4 ? t : undefined;
      },
      { timeoutMs: 5000, alive: proc ? [proc] : [] },
    );
    assert.deepEqual(
      trail.records.map((r) => r.id),
      ids.slice(2).reverse(),
    );
    const keyId = `admin:${createHash('sha256').update(ADMIN_KEY).digest('hex').slice(0, 12)}`;
    for (const r of trail.records) {
      assert.equal(r.actor, keyId);
      assert.equal(r.action, 'create');
      assert.equal(r.kind, 'api_keys');
    }
    await proc?.kill();
    api = await start();
    const again = JSON.parse((await api.raw('GET', '/audit')).body) as Trail;
    assert.deepEqual(again.records, trail.records);
  });

  test('an out-of-range retention knob fails the boot with the key named', () => {
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(
      cfg,
      `proxy: {addr: "127.0.0.1:0"}\nadmin: {addr: "127.0.0.1:0", admin_keys: ["${ADMIN_KEY}"], audit: {max_age_days: 0}}\ndata_dir: "${join(dir, 'bad-data')}"\n`,
    );
    const r = spawnSync(process.execPath, [MAIN, '--config', cfg], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(`${r.stdout}${r.stderr}`, /admin\.audit\.max_age_days must be from 1 to 3650 \(got 0\)/);
  });
});
