/**
 * `admin.enabled: false` binds no admin listener at all (and needs no admin key), while the
 * proxy and the status listener serve as usual.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { childEnv, MAIN, ROOT } from './test-support.js';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-admin-off-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

test('admin.enabled: false binds nothing on the admin address and needs no admin key', async () => {
  const [proxy, admin, metrics] = [await freePort(), await freePort(), await freePort()];
  const cfg = join(tmp, 'config.yaml');
  writeFileSync(
    cfg,
    [
      `data_dir: ${join(tmp, 'data')}`,
      `proxy: {addr: "127.0.0.1:${proxy}"}`,
      `admin: {enabled: false, addr: "127.0.0.1:${admin}"}`,
      `observability: {metrics: {prometheus: {addr: "127.0.0.1:${metrics}"}}}`,
    ].join('\n'),
  );
  const env = childEnv();
  const child = spawn(process.execPath, [MAIN, '--config', cfg], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  try {
    const deadline = Date.now() + 20_000;
    let ready = false;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        const r = await fetch(`http://127.0.0.1:${proxy}/readyz`);
        await r.text();
        if (r.status === 200) {
          ready = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    assert.ok(ready, `proxy never became ready: ${out}`);
    assert.equal(await refused(admin), true, 'nothing listens on the admin address');
    const status = await fetch(`http://127.0.0.1:${metrics}/status/ready`);
    assert.equal(status.status, 200);
    await status.text();
    const line = out.split('\n').find((l) => l.includes('"aisix started"')) ?? '';
    const listeners = (JSON.parse(line) as { listeners: Record<string, string> }).listeners;
    assert.equal(listeners.admin, undefined);
    assert.equal(listeners.proxy, `127.0.0.1:${proxy}`);
  } finally {
    child.kill('SIGKILL');
  }
});
