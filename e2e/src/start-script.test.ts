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
const started: { pnpm: ChildProcess; serverPid: number | undefined }[] = [];

after(() => {
  for (const s of started) {
    s.pnpm.kill('SIGKILL');
    if (s.serverPid !== undefined && alive(s.serverPid)) process.kill(s.serverPid, 'SIGKILL');
  }
  removeDir(dir);
});

/** `pnpm start` in its own process group (as a terminal runs it), once the server is ready. */
async function pnpmStart(name: string) {
  const proxy = await freePort();
  const pnpm = spawn(pnpmBin(), ['start'], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      AISIX_START_NO_BUILD: '1',
      AISIX_PROXY__ADDR: `127.0.0.1:${proxy}`,
      AISIX_ADMIN__ADDR: `127.0.0.1:${await freePort()}`,
      AISIX_OBSERVABILITY__METRICS__PROMETHEUS__ADDR: `127.0.0.1:${await freePort()}`,
      AISIX_DATA_DIR: join(dir, name),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = { pnpm, serverPid: undefined as number | undefined, out: '' };
  started.push(run);
  pnpm.stdout?.on('data', (d: Buffer) => {
    run.out += d.toString();
  });
  pnpm.stderr?.on('data', (d: Buffer) => {
    run.out += d.toString();
  });
  const exited = new Promise<void>((resolve) => pnpm.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (run.serverPid === undefined) {
    assert.ok(Date.now() < deadline, `the server did not start:\n${run.out}`);
    const line = run.out.split('\n').find((l) => l.includes('"aisix started"'));
    if (line) run.serverPid = (JSON.parse(line) as { pid: number }).pid;
    else await sleep(100);
  }
  assert.equal((await httpGet(`http://127.0.0.1:${proxy}/readyz`)).status, 200);
  return { ...run, serverPid: run.serverPid, exited, output: () => run.out };
}

async function stopped(pid: number, after: string): Promise<void> {
  const stopBy = Date.now() + 40_000;
  while (alive(pid)) {
    assert.ok(Date.now() < stopBy, `the server (pid ${pid}) is still running after ${after}`);
    await sleep(100);
  }
}

test('SIGTERM to `pnpm start` drains and stops the server', { timeout: 90_000 }, async () => {
  const r = await pnpmStart('term');
  r.pnpm.kill('SIGTERM');
  await stopped(r.serverPid, 'pnpm got SIGTERM');
  await r.exited;
  assert.match(r.output(), /shutdown complete/, 'the server drained and stopped on its own');
});

test('Ctrl-C (SIGINT to the process group) drains once, not as a second signal', {
  timeout: 90_000,
}, async () => {
  const r = await pnpmStart('int');
  // The terminal signals the whole group; pnpm forwards its own copy to the server too.
  process.kill(-(r.pnpm.pid as number), 'SIGINT');
  await stopped(r.serverPid, 'Ctrl-C');
  await r.exited;
  assert.match(r.output(), /shutdown complete/);
  assert.doesNotMatch(r.output(), /second signal during drain/);
});
