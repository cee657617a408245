/**
 * After the quick start there is an `aisix` command in the checkout: `npx aisix` resolves to the
 * workspace's own bin (never a registry package of that name: `--no` forbids installing),
 * `pnpm exec aisix` and the root script `pnpm aisix` run it too.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pnpmBin, ROOT } from './harness.js';

const version = (
  JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string }
).version;

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, npm_config_yes: 'false' },
  });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

test('npx aisix runs the workspace bin, offline', () => {
  const r = run('npx', ['--no', '--', 'aisix', '--version']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `aisix ${version}`);
});

test('pnpm exec aisix and pnpm aisix run it', () => {
  const pnpm = pnpmBin();
  const exec = run(pnpm, ['exec', 'aisix', '--version']);
  assert.equal(exec.code, 0, exec.err);
  assert.equal(exec.out, `aisix ${version}`);
  const script = run(pnpm, ['--silent', 'aisix', 'validate', '--config', 'config.yaml', '--role', 'gateway']);
  assert.equal(script.code, 0, script.err);
  assert.equal(
    script.out,
    'OK: config.yaml is a valid configuration for --role gateway (resource source: embedded)',
  );
});
