#!/usr/bin/env node
// `pnpm start`: builds what changed (turbo, cached), then runs the server in this very process.
// No shell and no child between pnpm and the server: pnpm forwards SIGINT/SIGTERM to the process
// it started, so stopping `pnpm start` drains and stops the server instead of orphaning it.
// The arguments are the CLI's (`--config config.yaml` from package.json).
// AISIX_START_NO_BUILD=1 skips the build (the dist is known to be current, e.g. in tests).
import { spawnSync } from 'node:child_process';
import cluster from 'node:cluster';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

// proxy.workers > 1 forks this script again for each worker: only the primary builds.
if (cluster.isPrimary && process.env.AISIX_START_NO_BUILD !== '1') {
  const turbo = join(root, 'node_modules', '.bin', 'turbo');
  const r = spawnSync(turbo, ['run', 'build', '--output-logs=errors-only'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
  if (r.status !== 0) {
    console.error(
      r.error ? `build failed: ${r.error.message}` : `build failed (exit ${r.status ?? r.signal})`,
    );
    process.exit(1);
  }
}

// The CLI reads process.argv itself: the arguments given to this script are its arguments.
await import(join(root, 'packages', 'cli', 'dist', 'src', 'main.js'));
