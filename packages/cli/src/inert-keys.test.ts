/**
 * The startup line names `observability.service_name`, and keys that this build parses but does
 * not apply yet are listed in one warning (none with a default config), through the built binary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { childEnv, MAIN, ROOT } from './test-support.js';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-inert-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Boots `--role gateway` with `extra` merged into the config; returns stdout once started. */
async function bootLog(name: string, extra: Record<string, unknown>): Promise<string[]> {
  const cfg = join(tmp, `${name}.json`);
  writeFileSync(
    cfg,
    JSON.stringify({
      proxy: { addr: `127.0.0.1:${await freePort()}` },
      data_dir: join(tmp, `${name}-data`),
      observability: { metrics: { prometheus: { enabled: false } } },
      ...extra,
    }),
  );
  const env = childEnv();
  const child = spawn(process.execPath, [MAIN, '--config', cfg, '--role', 'gateway'], { cwd: ROOT, env });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const deadline = Date.now() + 15_000;
  while (!out.includes('aisix started')) {
    if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
    if (Date.now() > deadline) assert.fail(`no startup line: ${out}`);
    await sleep(50);
  }
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  return out.split('\n').filter((l) => l.startsWith('{'));
}

test('startup: service_name in the startup line; inert keys in one warning', async () => {
  const lines = await bootLog('inert', {
    observability: {
      service_name: 'gw-eu-1',
      metrics: {
        prometheus: { enabled: false },
        otlp: { enabled: true, endpoint: 'http://127.0.0.1:4318' },
      },
    },
    // Without `backend: redis` the connection is never opened: inert.
    ratelimit: { redis: { url: 'redis://127.0.0.1:6379' } },
    // Applied (Bedrock guardrails): never in the warning.
    bedrock_endpoint_url: 'https://bedrock.example',
  });
  const started = JSON.parse(lines.find((l) => l.includes('aisix started')) ?? '{}') as {
    service_name?: string;
  };
  assert.equal(started.service_name, 'gw-eu-1');
  const warnings = lines.filter((l) => l.includes('not applied by this build'));
  assert.equal(warnings.length, 1, lines.join('\n'));
  const w = JSON.parse(warnings[0] ?? '{}') as { keys?: string[]; level?: number | string };
  assert.deepEqual(w.keys, [
    'ratelimit.redis',
    'observability.metrics.otlp.enabled',
    'observability.metrics.otlp.endpoint',
  ]);
  assert.ok(!warnings[0]?.includes('redis://'), 'values are not logged');
});

test('startup: defaults = service_name aisix and no inert-key warning', async () => {
  const lines = await bootLog('defaults', {});
  const started = JSON.parse(lines.find((l) => l.includes('aisix started')) ?? '{}') as {
    service_name?: string;
  };
  assert.equal(started.service_name, 'aisix');
  assert.equal(lines.filter((l) => l.includes('not applied by this build')).length, 0, lines.join('\n'));
});
