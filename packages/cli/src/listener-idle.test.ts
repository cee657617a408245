/**
 * End to end: `downstream.idle_timeout_secs` is the idle keep-alive close of HTTP/1.1 connections
 * "on all listeners; 0 = never" (control-plane §1.9): the proxy, the admin listener and the
 * metrics/status listener alike, and with the default 0 none of them closes an idle connection
 * on its own (not node's 5 s default).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { childEnv, MAIN, ROOT } from './test-support.js';

const ADMIN_KEY = 'idle-test-admin-key-0123456789';
const tmp = mkdtempSync(join(tmpdir(), 'aisix-listener-idle-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Ports {
  readonly proxy: number;
  readonly admin: number;
  readonly metrics: number;
}

async function boot(name: string, downstream: string): Promise<{ child: ChildProcess; ports: Ports }> {
  const ports = { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
  const cfg = join(tmp, `${name}.yaml`);
  writeFileSync(
    cfg,
    [
      `data_dir: "${join(tmp, `${name}-data`)}"`,
      `proxy: {addr: "127.0.0.1:${ports.proxy}"}`,
      `admin: {addr: "127.0.0.1:${ports.admin}", admin_keys: ["${ADMIN_KEY}"]}`,
      `observability: {metrics: {prometheus: {addr: "127.0.0.1:${ports.metrics}"}}}`,
      downstream,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, [MAIN, '--config', cfg], { cwd: ROOT, env: childEnv() });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
    const up = await Promise.all(
      [ports.proxy, ports.admin].map((p) =>
        fetch(`http://127.0.0.1:${p}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        ),
      ),
    );
    const status = await fetch(`http://127.0.0.1:${ports.metrics}/status/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (up.every(Boolean) && status) break;
    if (Date.now() > deadline) assert.fail(`listeners not ready; output:\n${out}`);
    await sleep(50);
  }
  return { child, ports };
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/**
 * One keep-alive request on a raw connection; resolves with the response head and how long the
 * idle connection stayed open afterwards (`null` = still open after `waitMs`).
 */
function idleAfterRequest(
  port: number,
  path: string,
  waitMs: number,
): Promise<{ head: string; closedAfterMs: number | null }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let got = '';
    let t0 = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ head: got.split('\r\n\r\n')[0] ?? '', closedAfterMs: null });
    }, waitMs);
    sock.on('data', (d: Buffer) => {
      got += d.toString();
      if (t0 === 0) t0 = Date.now();
    });
    sock.once('close', () => {
      clearTimeout(timer);
      resolve({ head: got.split('\r\n\r\n')[0] ?? '', closedAfterMs: Date.now() - t0 });
    });
    sock.on('error', () => {});
    sock.once('connect', () =>
      sock.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n`),
    );
  });
}

const probes = (p: Ports): [string, number, string][] => [
  ['proxy', p.proxy, '/livez'],
  ['admin', p.admin, '/livez'],
  ['metrics/status', p.metrics, '/status/ready'],
];

test('downstream.idle_timeout_secs: 1 closes idle keep-alive connections on the proxy, admin and status listeners', async () => {
  const { child, ports } = await boot('one', 'downstream: {idle_timeout_secs: 1}');
  try {
    const results = await Promise.all(
      probes(ports).map(async ([name, port, path]) => ({
        name,
        ...(await idleAfterRequest(port, path, 4500)),
      })),
    );
    for (const r of results) {
      assert.match(r.head, /^HTTP\/1\.1 200 /, `${r.name}: ${r.head}`);
      assert.notEqual(r.closedAfterMs, null, `${r.name}: the idle connection was never closed`);
      const ms = r.closedAfterMs ?? 0;
      assert.ok(ms >= 700 && ms < 4000, `${r.name}: closed after ${ms} ms, expected about 1 s`);
    }
  } finally {
    await stop(child);
  }
});

test('downstream.idle_timeout_secs default 0: no listener closes an idle keep-alive connection', async () => {
  const { child, ports } = await boot('zero', '');
  try {
    const results = await Promise.all(
      probes(ports).map(async ([name, port, path]) => ({
        name,
        ...(await idleAfterRequest(port, path, 7500)),
      })),
    );
    for (const r of results) {
      assert.match(r.head, /^HTTP\/1\.1 200 /, `${r.name}: ${r.head}`);
      assert.equal(r.closedAfterMs, null, `${r.name}: closed an idle connection after ${r.closedAfterMs} ms`);
      assert.doesNotMatch(r.head, /keep-alive: timeout=/i, `${r.name} announces an idle timeout`);
    }
  } finally {
    await stop(child);
  }
});
