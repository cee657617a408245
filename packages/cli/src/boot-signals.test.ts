/**
 * A SIGHUP that arrives while `serve` boots (before the reload handler is installed) is held
 * and acted on once the handler is in place: the resources file is read again (it may have
 * been read before the change the signal announces); without a file it is ignored, as later.
 * The process-level case (a real `aisix` killed by a SIGHUP during the eager etcd connect) is
 * in cli.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, test } from 'node:test';
import type { Logger } from 'pino';
import { holdReloadSignals, releaseReloadSignals } from './boot-signals.js';
import { FileResources } from './file-source.js';
import type { Opened, Sync } from './serve-listeners.js';
import { onReloadSignal } from './serve-signals.js';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-boot-signals-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const initial = process.listeners('SIGHUP');
afterEach(() => {
  releaseReloadSignals();
  for (const l of process.listeners('SIGHUP')) if (!initial.includes(l)) process.off('SIGHUP', l);
});

/** Sends this process a SIGHUP and resolves once its listeners ran. */
function hup(): Promise<void> {
  return new Promise((resolve) => {
    // Signal watchers do not keep the event loop alive; this does until the signal came.
    const alive = setTimeout(() => {}, 5000);
    process.once('SIGHUP', () => {
      clearTimeout(alive);
      resolve();
    });
    process.kill(process.pid, 'SIGHUP');
  });
}

/** Log lines as `[msg, fields]`. */
function captureLogger(): { logger: Logger; lines: [string, Record<string, unknown>][] } {
  const lines: [string, Record<string, unknown>][] = [];
  const log = (a: unknown, b?: unknown) => {
    if (typeof a === 'string') lines.push([a, {}]);
    else lines.push([String(b), a as Record<string, unknown>]);
  };
  return { logger: { info: log, warn: log } as unknown as Logger, lines };
}

const until = async (ok: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
};

test('resources file: a SIGHUP during the boot reloads the file once the handler is installed', async () => {
  const path = join(tmp, 'resources.yaml');
  writeFileSync(path, '_format_version: "1"\n');
  const r = await FileResources.open(path, '/aisix', {});
  assert.ok(r.ok);
  holdReloadSignals();
  await hup();
  const { logger, lines } = captureLogger();
  let forwarded = 0;
  const opened = { resources: { file: r.resources } } as unknown as Opened;
  onReloadSignal({ onReload: () => forwarded++ }, opened, {} as Sync, logger);
  await until(() => lines.length > 0);
  assert.deepEqual(lines, [['resources file reloaded', { path, resources: 0, generation: 2 }]]);
  assert.equal(forwarded, 1, 'forwarded to the workers too');
  // From then on each SIGHUP is one reload; nothing is held any more.
  await hup();
  await until(() => lines.length > 1);
  assert.equal(lines.length, 2);
  assert.equal(lines[1]?.[1].generation, 3);
  assert.equal(releaseReloadSignals(), false);
});

test('no resources file: a SIGHUP during the boot is ignored, and so is a later one', async () => {
  holdReloadSignals();
  await hup();
  const { logger, lines } = captureLogger();
  const opened = { resources: { file: undefined } } as unknown as Opened;
  onReloadSignal({}, opened, {} as Sync, logger);
  assert.deepEqual(lines, [['SIGHUP ignored: only a resources_file source reloads', {}]]);
  await hup();
  assert.equal(lines.length, 2);
});

test('no SIGHUP during the boot: nothing is replayed', () => {
  holdReloadSignals();
  const { logger, lines } = captureLogger();
  onReloadSignal({}, { resources: { file: undefined } } as unknown as Opened, {} as Sync, logger);
  assert.deepEqual(lines, []);
});
