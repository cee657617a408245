#!/usr/bin/env node
// Runs every compiled test file (`*.test.js` under packages/*/dist, e2e/dist) in one
// `node --test` invocation so CI reads one closing summary. Tests that need etcd use
// AISIX_TEST_ETCD (set by .ci/run) or start a private etcd through @aisix/testkit; the
// etcd binary is required (Debian: etcd-server), openssl for the TLS tests' throwaway
// certificates, and redis-server + redis-cli (Debian: redis-server) for the rate-limit and
// cache backends, whose tests start their own servers, chromium (Debian: chromium) for the
// admin console's browser test (playwright-core drives the system browser), and prometheus +
// promtool (Debian: prometheus) for the metrics exposition tests. On a fresh root Debian
// machine all are installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const missing = [
  ['etcd', 'etcd-server'],
  ['openssl', 'openssl'],
  ['redis-server', 'redis-server'],
  ['redis-cli', 'redis-server'],
  ['chromium', 'chromium'],
  ['prometheus', 'prometheus'],
  ['promtool', 'prometheus'],
].filter(([bin]) => !has(bin));

if (missing.length > 0) {
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
  if (isRoot && hasApt) {
    console.log(
      `run-tests: installing Debian ${pkgs} (the tests use real etcd, Redis, Prometheus, TLS listeners and a real browser)`,
    );
    const cmd = `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs} >/dev/null`;
    execFileSync('sh', ['-c', cmd], { stdio: 'inherit' });
  } else {
    console.error(`run-tests: missing ${pkgs} (Debian/Ubuntu: apt-get install -y ${pkgs})`);
    process.exit(1);
  }
}

function collect(dir, out) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
}

const files = [];
for (const pkg of readdirSync(join(root, 'packages'))) collect(join(root, 'packages', pkg, 'dist'), files);
collect(join(root, 'e2e', 'dist'), files);
files.sort();
const filter = process.argv[2];
const selected = filter ? files.filter((f) => f.includes(filter)) : files;
if (selected.length === 0) {
  console.error('run-tests: no test files found (did the build run?)');
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=3', '--test-timeout=180000', ...selected],
  { stdio: 'inherit', cwd: root, env: { ...process.env, AISIX_REPO_ROOT: root } },
);
process.exit(r.status ?? 1);
