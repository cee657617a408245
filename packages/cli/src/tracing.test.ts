/**
 * The `aisix` binary with `observability.tracing.otlp` enabled (env overrides on the quick-start
 * config): a proxy request becomes a SERVER span at a real local mock collector, and the SIGTERM
 * drain flushes the exporter before the process exits. Bodies are decoded with the official
 * OpenTelemetry definitions (@aisix/testkit/otlp).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { attributeMap, decodedSpans, decodedStrings, decodeOtlpJsonTraces } from '@aisix/testkit/otlp';
import { MAIN, ROOT } from './test-support.js';

const tmp = mkdtempSync(join(tmpdir(), 'aisix-tracing-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('aisix binary: tracing enabled exports the proxy request span; the drain flushes it', async () => {
  const bodies: string[] = [];
  const paths: string[] = [];
  const collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      paths.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const colPort = (collector.address() as AddressInfo).port;
  const [proxy, admin, metrics] = [await freePort(), await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    LOG_LEVEL: 'warn',
    AISIX_PROXY__ADDR: `127.0.0.1:${proxy}`,
    AISIX_ADMIN__ADDR: `127.0.0.1:${admin}`,
    AISIX_OBSERVABILITY__METRICS__PROMETHEUS__ADDR: `127.0.0.1:${metrics}`,
    AISIX_DATA_DIR: join(tmp, 'data'),
    AISIX_SHUTDOWN__MIN_DRAIN_SECS: '0',
    AISIX_OBSERVABILITY__SERVICE_NAME: 'aisix-cli-test',
    AISIX_OBSERVABILITY__TRACING__OTLP__ENABLED: 'true',
    AISIX_OBSERVABILITY__TRACING__OTLP__ENDPOINT: `http://127.0.0.1:${colPort}`,
  };
  const child = spawn(process.execPath, [MAIN, '--config', 'config.yaml'], { cwd: ROOT, env });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${proxy}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      assert.ok(Date.now() < deadline, `not ready: ${out}`);
      await sleep(100);
    }
    const secret = 'sk-unknown-caller-secret-123';
    const r = await fetch(`http://127.0.0.1:${proxy}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 401);
    const rid = r.headers.get('x-aisix-request-id') ?? '';
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    const decoded = bodies.map((b) => decodeOtlpJsonTraces(b));
    const spans = decoded.flatMap(decodedSpans);
    assert.equal(paths[0], '/v1/traces');
    assert.equal(spans.length, 1, `spans: ${JSON.stringify(spans)}`);
    const s = spans[0];
    assert.ok(s);
    assert.equal(s.name, 'POST /v1/chat/completions');
    assert.equal(s.kind, 2);
    assert.equal(s.parentSpanId, undefined);
    assert.equal(s.traceId, rid.replaceAll('-', ''));
    // A caller's 4xx is not a server error (HTTP semantic conventions for SERVER spans).
    assert.equal(s.status.code, 1);
    const a = attributeMap(s);
    assert.equal(a['http.response.status_code'], 401);
    assert.equal(a['aisix.request_id'], rid);
    assert.deepEqual(attributeMap(decoded[0]?.resourceSpans[0]?.resource ?? { attributes: [] }), {
      'service.name': 'aisix-cli-test',
    });
    assert.equal(decoded.flatMap(decodedStrings).join('\n').includes(secret), false);
    assert.equal(bodies.join('').includes(secret), false);
  } finally {
    child.kill('SIGKILL');
    collector.closeAllConnections();
    await new Promise((r) => collector.close(r));
  }
});
