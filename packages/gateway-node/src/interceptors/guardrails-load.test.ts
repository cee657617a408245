/**
 * A pathological regex and a 10 MiB prompt do not stall other requests: operator regexes run on
 * RE2 (linear), and texts this large are scanned on the scan worker, so the event loop keeps
 * serving small requests while the big one is scanned. Measured with the event-loop delay
 * histogram and the latency of small requests sent meanwhile, against the same request with no
 * guardrail (the proxy's own parsing and forwarding of 10 MiB is the baseline).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { type CacheRig, cacheDocs, KEY_A, post, startCacheRig } from '../test/cache-rig.js';
import { buildSnapshot, type Docs, testConfig } from '../test/fixtures.js';
import { chatJson } from '../test/mock-upstream.js';

let rig: CacheRig;

const GUARDRAILS = {
  redos: {
    name: 'redos',
    kind: 'keyword',
    // Catastrophic on a backtracking engine for a run of a's not followed by the end.
    patterns: [
      { kind: 'regex', value: '(a+)+$' },
      { kind: 'regex', value: '(?i)(x+x+)+y' },
      { kind: 'literal', value: 'forbidden-word' },
    ],
  },
  pii: {
    name: 'pii',
    kind: 'pii',
    custom_patterns: [{ name: 'ticket', regex: 'TCK-[0-9]{6}', action: 'mask' }],
  },
};

function apply(guardrails: Record<string, unknown>, rev: number): void {
  const docs = { ...cacheDocs(rig.up.url, rig.anth.url, {}), guardrails } as Docs;
  rig.g.source.set(buildSnapshot(docs, rev));
}

before(async () => {
  rig = await startCacheRig({
    config: testConfig({ proxy: { addr: '127.0.0.1:0', request_body_limit_bytes: 16 * 1024 * 1024 } }),
  });
  rig.up.handle(chatJson('ok'));
});

after(() => rig.close());

interface Run {
  readonly status: number;
  readonly bigMs: number;
  readonly smalls: number;
  readonly worstMs: number;
  readonly maxDelayMs: number;
  readonly p99DelayMs: number;
}

const BIG = `${'a'.repeat(5 * 1024 * 1024)}!${'x'.repeat(5 * 1024 * 1024)} mail me at jo@example.com TCK-123456`;
const SMALL = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

async function run(): Promise<Run> {
  const body = Buffer.from(
    JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: BIG }] }),
  );
  assert.equal((await post(rig.g.base, '/v1/chat/completions', SMALL)).status, 200);
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const t0 = performance.now();
  let done = false;
  const big = rawPost(`${rig.g.base}/v1/chat/completions`, body).finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  while (!done) {
    const s = performance.now();
    assert.equal((await post(rig.g.base, '/v1/chat/completions', SMALL)).status, 200);
    latencies.push(performance.now() - s);
    await new Promise((r) => setTimeout(r, 20));
  }
  const r = await big;
  const bigMs = performance.now() - t0;
  h.disable();
  return {
    status: r.status,
    bigMs,
    smalls: latencies.length,
    worstMs: Math.max(...latencies),
    maxDelayMs: h.max / 1e6,
    p99DelayMs: h.percentile(99) / 1e6,
  };
}

const fmt = (r: Run) =>
  `big ${r.bigMs.toFixed(0)} ms, ${r.smalls} small requests meanwhile (worst ${r.worstMs.toFixed(0)} ms), event-loop delay max ${r.maxDelayMs.toFixed(0)} ms p99 ${r.p99DelayMs.toFixed(0)} ms`;

test('a 10 MiB prompt against a pathological regex: small requests keep being served', async () => {
  apply({}, 2);
  const bare = await run();
  apply(GUARDRAILS, 3);
  const guarded = await run();
  console.log(`10 MiB prompt, no guardrail: ${fmt(bare)}`);
  console.log(`10 MiB prompt, keyword (pathological regexes) + pii: ${fmt(guarded)}`);
  assert.equal(guarded.status, 200);
  const seen = rig.up.requests
    .map((q) => String((q.json?.messages as { content: string }[] | undefined)?.[0]?.content))
    .filter((c) => c.length > 1000)
    .at(-1);
  assert.ok(seen !== undefined);
  assert.equal(seen.endsWith('xxx mail me at [EMAIL_REDACTED] [TICKET_REDACTED]'), true);
  // The scan takes far longer than any pause it adds: it ran off the event loop.
  assert.ok(guarded.smalls >= 3, 'small requests were served while the big one was scanned');
  assert.ok(
    guarded.maxDelayMs < bare.maxDelayMs + 300,
    `guardrails stalled the loop: ${guarded.maxDelayMs} ms vs ${bare.maxDelayMs} ms bare`,
  );
});

/** A POST of prepared bytes (no per-request encoding on the loop being measured). */
function rawPost(url: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${KEY_A}`,
          'content-type': 'application/json',
          'content-length': body.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
