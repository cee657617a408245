/**
 * Boot with Redis backends (control-plane §1.8: "Connect failure at boot → exit 1"): the
 * built `aisix` CLI with `ratelimit.backend: redis` (or `cache.redis`) on a Redis nobody
 * listens on, or one that refuses the password, exits 1 with a message naming the config key
 * and never printing the password; with a reachable Redis the `aisix started` line names the
 * backends (never a credential) and requests are served.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, type RedisProcess, startRedis } from '@aisix/testkit';
import { type AisixProcess, killAll, removeDir, startAisix, tempDir } from './harness.js';
import {
  chat,
  type FileKey,
  keysEnv,
  startUsageUpstream,
  type UsageUpstream,
  waitServing,
  watchLog,
  writeGatewayConfig,
  writeResources,
} from './limits-harness.js';

const PASSWORD = 'pw-e2e-Zq8xVr3';
const URL_PASSWORD = 'urlpw-e2e-Kd4mT9';
const probe: FileKey = { name: 'probe', plaintext: 'sk-e2e-probe-0000000000000000' };

/** Resolves with the exit code, or fails after `timeoutMs` (the process is still running). */
async function exitCode(p: AisixProcess, timeoutMs: number): Promise<number | null> {
  const code = await Promise.race([
    new Promise<number | null>((resolve) => {
      if (p.child.exitCode !== null) resolve(p.child.exitCode);
      else p.child.once('exit', (c) => resolve(c));
    }),
    sleep(timeoutMs, 'running' as const, { ref: false }),
  ]);
  if (code === 'running') assert.fail(`${p.name} still runs after ${timeoutMs} ms:\n${p.output()}`);
  return code;
}

describe('boot with Redis backends', () => {
  const dir = tempDir('redis-boot');
  let redis: RedisProcess;
  let upstream: UsageUpstream;
  let resources = '';
  const procs: AisixProcess[] = [];

  before(async () => {
    redis = await startRedis({ args: ['--requirepass', PASSWORD] });
    upstream = await startUsageUpstream({ totalTokens: 4 });
    resources = writeResources(dir, upstream.apiBase, [probe]);
  });

  after(async () => {
    await killAll(procs);
    await upstream?.close();
    await redis?.stop();
    removeDir(dir);
  });

  const start = async (name: string, extra: string): Promise<AisixProcess> => {
    const config = writeGatewayConfig(dir, name, resources, extra);
    const p = await startAisix({ name, dir, role: 'gateway', configPath: config, env: keysEnv([probe]) });
    procs.push(p);
    return p;
  };

  const assertNoSecret = (p: AisixProcess) => {
    for (const s of [PASSWORD, URL_PASSWORD]) {
      assert.ok(!p.output().includes(s), `${p.name} printed a password:\n${p.output()}`);
    }
  };

  test('an unreachable, unauthorised or missing Redis stops the boot: exit 1, named key, no password', async (t) => {
    const deadPort = await freePort();
    const cases: { name: string; yaml: string; names: RegExp }[] = [
      {
        name: 'rl-nobody-listens',
        yaml:
          'ratelimit:\n  backend: redis\n  redis:\n' +
          `    url: "redis://user:${URL_PASSWORD}@127.0.0.1:${deadPort}"\n    password: "${PASSWORD}"\n`,
        names: /ratelimit\.redis/,
      },
      {
        name: 'rl-wrong-password',
        yaml: `ratelimit:\n  backend: redis\n  redis:\n    url: "${redis.url}"\n    password: "${URL_PASSWORD}"\n`,
        names: /ratelimit\.redis/,
      },
      {
        name: 'cache-nobody-listens',
        yaml: `cache:\n  redis:\n    url: "redis://127.0.0.1:${deadPort}"\n    password: "${PASSWORD}"\n`,
        names: /cache\.redis/,
      },
      { name: 'rl-no-redis-block', yaml: 'ratelimit:\n  backend: redis\n', names: /ratelimit\.redis/ },
    ];
    const procsOf = await Promise.all(cases.map((c) => start(c.name, c.yaml)));
    const t0 = performance.now();
    const codes = await Promise.all(
      procsOf.map(async (p) => {
        const code = await exitCode(p, 15_000);
        return { code, after: performance.now() - t0 };
      }),
    );
    for (const [i, c] of cases.entries()) {
      const p = procsOf[i] as AisixProcess;
      const { code, after } = codes[i] as { code: number | null; after: number };
      const lastLine = p.output().trim().split('\n').at(-1) ?? '';
      t.diagnostic(`${c.name}: exit ${code} after ${after.toFixed(0)} ms: ${lastLine}`);
      assert.equal(code, 1, `${c.name}: exit code\n${p.output()}`);
      assert.match(p.output(), c.names, `${c.name}: the message names the key`);
      assert.doesNotMatch(p.output(), /aisix started/, `${c.name} never started`);
      assertNoSecret(p);
    }
  });

  test('a reachable Redis: the startup line names the backends, requests are served', async (t) => {
    const conn = `  redis:\n    url: "${redis.url}"\n    password: "${PASSWORD}"\n`;
    const p = await start('reachable', `ratelimit:\n  backend: redis\n${conn}cache:\n${conn}`);
    const log = watchLog(p);
    await log.waitFor('aisix started', 20_000);
    await waitServing(p, probe.plaintext);
    const line = log.lines().find((l) => l.includes('"msg":"aisix started"')) ?? '';
    t.diagnostic(line);
    const backends = (JSON.parse(line) as { backends?: { ratelimit?: string; cache?: string } }).backends;
    assert.equal(backends?.ratelimit, `redis single redis://127.0.0.1:${redis.port}`);
    assert.equal(backends?.cache, `memory + redis single redis://127.0.0.1:${redis.port}`);
    assert.equal((await chat(p.proxyUrl, probe.plaintext)).status, 200);
    assertNoSecret(p);
  });
});
