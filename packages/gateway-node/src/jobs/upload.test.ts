/**
 * The streamed upload's guards in process: a stalled body is a 408 and a body over the cap a 413,
 * both after the upstream call started, which is aborted so the upstream never completes an upload.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { json, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';

let up: MockUpstream;
let g: Started;
const LIMIT = 64 * 1024;
const B = 'uploadtestboundary';
const HEAD = `--${B}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--${B}\r\nContent-Disposition: form-data; name="file"; filename="f.jsonl"\r\n\r\n`;

before(async () => {
  up = await startMockUpstream((_req, res) => json(res, 200, { id: 'file-1', object: 'file' }));
  g = await startTestGateway(
    buildSnapshot(standardDocs(up.url)),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: LIMIT } }),
    { bodyIdleTimeoutMs: 300 },
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

/** Sends `parts` (a null part = stall there) and resolves with the answer. */
function upload(parts: (Buffer | null)[], base = g.base): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}/v1/files`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${CALLER_KEY}`,
        'x-aisix-model': 'gpt-4o-mini',
        'content-type': `multipart/form-data; boundary=${B}`,
        'transfer-encoding': 'chunked',
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const p of parts) {
      if (p === null) return;
      req.write(p);
    }
    req.end();
  });
}

test('a body that stalls mid-file is a 408 and the upstream upload is aborted', async () => {
  const closed = up.nextSocketClose();
  const t0 = performance.now();
  const r = await upload([Buffer.from(HEAD), Buffer.alloc(1024, 0x61), null]);
  assert.equal(r.status, 408);
  assert.match(r.body, /timed out reading the request body/);
  assert.ok(performance.now() - t0 < 5000);
  await closed;
  assert.equal(up.requests.length, 0, 'no upload completed upstream');
});

test('a chunked body past the cap is a 413 after the upstream call started, which is aborted', async () => {
  const closed = up.nextSocketClose();
  const chunk = Buffer.alloc(16 * 1024, 0x62);
  const parts = [
    Buffer.from(HEAD),
    ...Array.from({ length: 8 }, () => chunk),
    Buffer.from(`\r\n--${B}--\r\n`),
  ];
  const r = await upload(parts);
  assert.equal(r.status, 413);
  await closed;
  assert.equal(up.requests.length, 0, 'no upload completed upstream');
  // Within the cap the same upload goes through.
  const ok = await upload([Buffer.from(HEAD), chunk, Buffer.from(`\r\n--${B}--\r\n`)]);
  assert.equal(ok.status, 200);
  assert.equal(up.requests.length, 1);
  assert.equal(up.requests[0]?.url, '/v1/files');
});

test('an upstream that answers before the upload ends: its answer is relayed, the rest is discarded', async () => {
  const early = createServer((_req, res) => {
    // Answers at once, without reading the body.
    const body = JSON.stringify({ error: { message: 'purpose is invalid', type: 'invalid_request_error' } });
    res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => early.listen(0, '127.0.0.1', r));
  const port = (early.address() as AddressInfo).port;
  const eg = await startTestGateway(
    buildSnapshot(standardDocs(`http://127.0.0.1:${port}`)),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: 64 * 1024 * 1024 } }),
  );
  try {
    const chunk = Buffer.alloc(256 * 1024, 0x63);
    const parts = [
      Buffer.from(HEAD),
      ...Array.from({ length: 32 }, () => chunk),
      Buffer.from(`\r\n--${B}--\r\n`),
    ];
    const r = await upload(parts, eg.base);
    assert.equal(r.status, 400);
    assert.match(r.body, /purpose is invalid/);
    // The gateway is still healthy afterwards.
    const again = await upload([Buffer.from(HEAD), chunk, Buffer.from(`\r\n--${B}--\r\n`)], eg.base);
    assert.equal(again.status, 400);
  } finally {
    await eg.gw.close();
    early.closeAllConnections();
    early.close();
  }
});
