import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readSnapshotCache, writeSnapshotCache } from './snapshot-cache.js';

const dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'aisix-cache-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const enc = new TextEncoder();

test('round trip keeps raw bytes (bad documents too), revisions and stale pins', async () => {
  const path = join(await tmp(), 'nested', 'dir', 'config_cache.json');
  const data = {
    revision: 42,
    entries: [
      { key: '/aisix/models/m', value: enc.encode('{"display_name":"m"}'), revision: 40 },
      { key: '/aisix/models/bad', value: new Uint8Array([0xff, 0x00, 0xfe]), revision: 41 },
      { key: '/aisix/models/empty', value: new Uint8Array(), revision: 42 },
    ],
    stale: [
      {
        key: '/aisix/models/bad',
        value: enc.encode('{"display_name":"old"}'),
        revision: 7,
        sinceUnixSecs: 1_700_000_000,
      },
    ],
  };
  await writeSnapshotCache(path, data);
  const back = await readSnapshotCache(path);
  assert.ok(back !== null);
  assert.equal(back.revision, 42);
  assert.deepEqual(
    back.entries.map((e) => [e.key, Buffer.from(e.value).toString('hex'), e.revision]),
    data.entries.map((e) => [e.key, Buffer.from(e.value).toString('hex'), e.revision]),
  );
  assert.deepEqual(
    back.stale.map((s) => [s.key, new TextDecoder().decode(s.value), s.revision, s.sinceUnixSecs]),
    [['/aisix/models/bad', '{"display_name":"old"}', 7, 1_700_000_000]],
  );
  // The documented file format, standard base64.
  const raw = JSON.parse(await readFile(path, 'utf8'));
  assert.equal(raw.version, 1);
  assert.deepEqual(raw.entries[1], { key: '/aisix/models/bad', value_b64: '/wD+', revision: 41 });
  assert.equal(raw.stale[0].since_unix_secs, 1_700_000_000);
  assert.deepEqual(await readdir(join(path, '..')), ['config_cache.json'], 'no tmp file left behind');
});

test('a rewrite replaces the whole file', async () => {
  const path = join(await tmp(), 'c.json');
  await writeSnapshotCache(path, {
    revision: 1,
    entries: [{ key: 'a', value: enc.encode('1'), revision: 1 }],
    stale: [],
  });
  await writeSnapshotCache(path, { revision: 2, entries: [], stale: [] });
  assert.deepEqual(await readSnapshotCache(path), { revision: 2, entries: [], stale: [] });
});

test('missing, corrupt, truncated and other-version files are ignored', async () => {
  const d = await tmp();
  assert.equal(await readSnapshotCache(join(d, 'missing.json')), null);
  const cases: [string, string][] = [
    ['not json', 'garbage{'],
    ['truncated', '{"version":1,"revision":3,"entries":[{"key":"a","value_b64":"YQ=='],
    ['other version', '{"version":2,"revision":3,"entries":[],"stale":[]}'],
    ['no version', '{"revision":3,"entries":[],"stale":[]}'],
    [
      'bad base64',
      '{"version":1,"revision":3,"entries":[{"key":"a","value_b64":"!!","revision":1}],"stale":[]}',
    ],
    ['negative revision', '{"version":1,"revision":-1,"entries":[],"stale":[]}'],
    [
      'entry without key',
      '{"version":1,"revision":3,"entries":[{"value_b64":"YQ==","revision":1}],"stale":[]}',
    ],
    [
      'stale without since',
      '{"version":1,"revision":3,"entries":[],"stale":[{"key":"a","value_b64":"YQ==","revision":1}]}',
    ],
    ['array', '[]'],
  ];
  for (const [label, body] of cases) {
    const p = join(d, `${label.replace(/ /g, '-')}.json`);
    await writeFile(p, body);
    assert.equal(await readSnapshotCache(p), null, label);
  }
  // A directory where the file should be is unreadable, not a crash.
  assert.equal(await readSnapshotCache(d), null);
});

test('write errors reject (the caller logs them)', async () => {
  const d = await tmp();
  const blocker = join(d, 'file');
  await writeFile(blocker, 'x');
  await assert.rejects(
    writeSnapshotCache(join(blocker, 'sub', 'c.json'), { revision: 1, entries: [], stale: [] }),
  );
});
