/**
 * End to end: the built `aisix` binary with `proxy.workers: 2` on the memory backend, where the
 * concurrency counters live in the primary and the workers ask it over IPC (docs/rate-limits.md).
 * With `ratelimit.concurrency_ttl_secs: 1`, a chat stream lasting about 4 s keeps the slot of
 * its `concurrency: 1` key to its end, whichever worker the other requests reach (data-plane
 * §9.3 "concurrency held for the whole stream"; the TTL only reclaims slots nobody holds any
 * more, §9.7), and the slot is free right after the stream ends.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { chatCompletionBody, childEnv, MAIN, ROOT } from './test-support.js';

const APP_KEY = 'sk-app-slots-0001';
const WORDS = 16;
const GAP_MS = 250;

const tmp = mkdtempSync(join(tmpdir(), 'aisix-cluster-slots-'));
let upstream: Server;
let upstreamPort = 0;

before(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', async () => {
      const parsed = JSON.parse(body) as { model: string; stream?: boolean };
      if (parsed.stream !== true) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(chatCompletionBody(parsed.model, 'ok'));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: object, finish: string | null = null) =>
        `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: parsed.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }));
      for (let i = 0; i < WORDS; i++) {
        await sleep(GAP_MS);
        if (res.destroyed) return;
        res.write(chunk({ content: `w${i} ` }));
      }
      res.write(chunk({}, 'stop'));
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});

after(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

/** A chat request on a new connection (node:cluster spreads those over the workers). */
function chat(port: number, model: string, stream: boolean, onData?: (text: string) => void) {
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/chat/completions',
        method: 'POST',
        agent: false,
        headers: { authorization: `Bearer ${APP_KEY}`, 'content-type': 'application/json' },
      },
      (res) => {
        res.on('data', (d: Buffer) => onData?.(d.toString()));
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }));
  });
}

test('proxy.workers: 2, concurrency_ttl_secs 1: a 4 s stream keeps its slot on the pod-shared counters', async () => {
  const proxy = await freePort();
  const metrics = await freePort();
  const resources = join(tmp, 'resources.yaml');
  writeFileSync(
    resources,
    [
      '_format_version: "1"',
      'provider_keys:',
      `  - {display_name: oa, provider: openai, api_key: up-key, api_base: "http://127.0.0.1:${upstreamPort}/v1"}`,
      'models:',
      '  - {display_name: long, provider: openai, model_name: up-long, provider_key: oa}',
      '  - {display_name: fast, provider: openai, model_name: up-fast, provider_key: oa}',
      'api_keys:',
      '  - {display_name: app, key_env: APP_KEY, allowed_models: [long, fast], rate_limit: {concurrency: 1}}',
      '',
    ].join('\n'),
  );
  const cfg = join(tmp, 'config.yaml');
  writeFileSync(
    cfg,
    `proxy:\n  addr: "127.0.0.1:${proxy}"\n  workers: 2\nadmin:\n  admin_keys: ["k"]\n` +
      `observability:\n  metrics:\n    prometheus:\n      addr: "127.0.0.1:${metrics}"\n` +
      `ratelimit:\n  concurrency_ttl_secs: 1\nresources_file: "${resources}"\n`,
  );
  const child: ChildProcess = spawn(process.execPath, [MAIN, '--config', cfg], {
    cwd: ROOT,
    env: { ...childEnv(), APP_KEY, AISIX_ADMIN__ADDR: `127.0.0.1:${await freePort()}` },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 20_000;
    while (!out.includes('all gateway workers started')) {
      if (child.exitCode !== null) assert.fail(`aisix exited ${child.exitCode}: ${out}`);
      assert.ok(Date.now() < deadline, `workers not started:\n${out}`);
      await sleep(50);
    }
    let words = 0;
    const t0 = Date.now();
    const stream = chat(proxy, 'long', true, (text) => {
      words += text.split('"content":"w').length - 1;
    });
    while (words === 0) {
      assert.ok(Date.now() - t0 < 5000, 'the stream did not start');
      await sleep(20);
    }
    const statuses: string[] = [];
    // Until the last word is on its way: every request meanwhile, on either worker, is refused.
    while (words < WORDS - 1) {
      statuses.push(`${Date.now() - t0}ms:${await chat(proxy, 'fast', false)}`);
      await sleep(150);
    }
    assert.ok(Date.now() - t0 > 3000, 'the stream outlived several TTLs');
    assert.deepEqual(
      statuses.filter((s) => !s.endsWith(':429')),
      [],
      `a request was admitted while the stream held the only slot: ${statuses.join(' ')}`,
    );
    assert.equal(await stream, 200);
    let status = 0;
    const freeBy = Date.now() + 2000;
    while (status !== 200 && Date.now() < freeBy) {
      status = await chat(proxy, 'fast', false);
      if (status !== 200) await sleep(50);
    }
    assert.equal(status, 200, 'the slot is free once the stream ended');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  } finally {
    child.kill('SIGKILL');
  }
});
