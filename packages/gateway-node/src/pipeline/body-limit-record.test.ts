/**
 * data-plane §13 item 2: with a 10 MiB cap an over-cap JSON body is answered 413
 * `invalid_request_error` with a message naming the limit, the upstream untouched, and the
 * refusal is recorded in the access log and the metrics, for a declared length and for a chunked
 * body alike.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import {
  buildSnapshot,
  CALLER_KEY,
  type Started,
  standardDocs,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { chatJson, type MockUpstream, sleep, startMockUpstream } from '../test/mock-upstream.js';
import { ACCESS_LOG_MESSAGE, type AccessLine, FLUSH_DELAY_MS } from './access-log.js';

const CAP = 10 * 1024 * 1024;
let up: MockUpstream;
let g: Started;
const lines: AccessLine[] = [];

before(async () => {
  up = await startMockUpstream(chatJson());
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l === '') continue;
        const parsed = JSON.parse(l) as AccessLine & { msg: string };
        if (parsed.msg === ACCESS_LOG_MESSAGE) lines.push(parsed);
      }
      cb();
    },
  });
  g = await startTestGateway(
    buildSnapshot(standardDocs(up.url)),
    testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: CAP } }),
    { logger: pino({ level: 'info' }, sink) },
  );
});

after(async () => {
  await g.gw.close();
  await up.close();
});

const overCap = () =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(CAP + 1024) }] });

async function rejections(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^aisix_proxy_request_body_limit_rejections_total\{[^}]*\} (\d+)$/gm))
    n += Number(m[1]);
  return n;
}

test('over the 10 MiB cap, declared and chunked: 413 naming the limit, upstream untouched, logged and counted', async () => {
  const headers = { authorization: `Bearer ${CALLER_KEY}`, 'content-type': 'application/json' };
  const declared = await fetch(`${g.base}/v1/chat/completions`, { method: 'POST', headers, body: overCap() });
  const body = overCap();
  const chunked = await fetch(`${g.base}/v1/chat/completions`, {
    method: 'POST',
    headers,
    body: new ReadableStream({
      start(c) {
        const enc = new TextEncoder();
        for (let i = 0; i < body.length; i += 1 << 20) c.enqueue(enc.encode(body.slice(i, i + (1 << 20))));
        c.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  for (const r of [declared, chunked]) {
    assert.equal(r.status, 413);
    const e = (await r.json()) as { error: { type: string; message: string } };
    assert.equal(e.error.type, 'invalid_request_error');
    assert.match(e.error.message, /limit/);
  }
  assert.equal(up.requests.length, 0, 'upstream untouched');
  await sleep(FLUSH_DELAY_MS + 100);
  const refused = lines.filter((l) => l.status === 413);
  assert.equal(refused.length, 2, `access log lines: ${JSON.stringify(lines)}`);
  // The counter is bumped when the refused body's drain ends (its outcome is a label). undici
  // stops sending a streamed body once the 413 arrives, so that drain ends at its 5 s timeout.
  const deadline = Date.now() + 7000;
  while ((await rejections()) < 2 && Date.now() < deadline) await sleep(100);
  assert.equal(await rejections(), 2);
});
