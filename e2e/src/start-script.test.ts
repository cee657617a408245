/**
 * The README's start command (`pnpm start`): the server is the process pnpm started, so a
 * SIGTERM to pnpm (a terminal closing, a supervisor stopping it) drains and stops the server
 * instead of leaving it running, orphaned. Runs the repo's own `start` script through pnpm with
 * the repo's `config.yaml` (listeners and data dir moved by the documented env overrides); the
 * build step is skipped, the suite has just built.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { httpGet, pnpmBin, ROOT, removeDir, tempDir } from './harness.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const dir = tempDir('start-script');
let pnpm: ChildProcess | undefined;
let serverPid: number | undefined;

after(() => {
  pnpm?.kill('SIGKILL');
  if (serverPid !== undefined && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
  removeDir(dir);
});

test('SIGTERM to `pnpm start` drains and stops the server', { timeout: 90_000 }, async () => {
  const proxy = await freePort();
  pnpm = spawn(pnpmBin(), ['start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      AISIX_START_NO_BUILD: '1',
      AISIX_PROXY__ADDR: `127.0.0.1:${proxy}`,
      AISIX_ADMIN__ADDR: `127.0.0.1:${await freePort()}`,
      AISIX_OBSERVABILITY__METRICS__PROMETHEUS__ADDR: `127.0.0.1:${await freePort()}`,
      AISIX_DATA_DIR: join(dir, 'data'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  pnpm.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  pnpm.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 60_000;
  while (serverPid === undefined) {
    assert.ok(Date.now() < deadline, `the server did not start:\n${out}`);
    const line = out.split('\n').find((l) => l.includes('"aisix started"'));
    if (line) serverPid = (JSON.parse(line) as { pid: number }).pid;
    else await sleep(100);
  }
  assert.equal((await httpGet(`http://127.0.0.1:${proxy}/readyz`)).status, 200);

  const pnpmExit = new Promise<void>((resolve) => pnpm?.once('exit', () => resolve()));
  pnpm.kill('SIGTERM');
  const stopBy = Date.now() + 40_000;
  while (alive(serverPid)) {
    assert.ok(Date.now() < stopBy, `the server (pid ${serverPid}) is still running after pnpm got SIGTERM`);
    await sleep(100);
  }
  await pnpmExit;
  assert.match(out, /shutdown complete/, 'the server drained and stopped on its own');
});
