/**
 * The metrics exposition checked by the real Prometheus tools (Debian `prometheus`): `promtool
 * check metrics` accepts a live gateway's `/metrics` after JSON, streamed, failed and unresolved
 * requests, and a real Prometheus server scraping the gateway answers PromQL queries for the
 * request, token and latency series with the values the requests produced.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '@aisix/testkit';
import OpenAI from 'openai';
import { aggregateMetricsText, departedPart } from './metrics.js';
import { buildSnapshot, CALLER_KEY, type Started, standardDocs, startTestGateway } from './test/fixtures.js';
import { chatJson, chatSse, type MockUpstream, startMockUpstream, USAGE } from './test/mock-upstream.js';

let up: MockUpstream;
let g: Started;
let exposition = '';

before(async () => {
  up = await startMockUpstream(chatJson('hi'));
  g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  const client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: 'hello' }];
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
  up.handle(chatSse({ words: ['a', 'b'], gapMs: 5 }));
  const s = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    messages,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const _ of s) {
  }
  await client.chat.completions.create({ model: 'nope', messages }).catch(() => undefined);
  await fetch(`${g.base}/v1/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer bad' } });
  exposition = await (await fetch(`http://127.0.0.1:${g.gw.metricsPort}/metrics`)).text();
});

after(async () => {
  await g.gw.close();
  await up.close();
});

test('promtool check metrics accepts the exposition', () => {
  assert.match(exposition, /aisix_llm_time_to_first_token_seconds_bucket\{/);
  assert.match(exposition, /model="unresolved"/);
  const r = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'promtool is installed (Debian package prometheus)');
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
});

interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

test('a real Prometheus scrapes the gateway and answers PromQL', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aisix-prom-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global: {scrape_interval: 1s, evaluation_interval: 1s}',
      'scrape_configs:',
      '  - job_name: aisix',
      `    static_configs: [{targets: ["127.0.0.1:${g.gw.metricsPort}"]}]`,
      '',
    ].join('\n'),
  );
  const prom: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  prom.stderr?.on('data', (b: Buffer) => {
    log = (log + b.toString('utf8')).slice(-4000);
  });
  t.after(() => {
    prom.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const query = async (q: string): Promise<Sample[]> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string; data: { result: Sample[] } };
    assert.equal(body.status, 'success');
    return body.data.result;
  };
  const deadline = Date.now() + 60_000;
  let requests: Sample[] = [];
  for (;;) {
    try {
      requests = await query('sum by (model, status) (aisix_requests_total)');
      if (requests.length > 0) break;
    } catch {
      // not listening yet
    }
    assert.ok(Date.now() < deadline, `Prometheus did not scrape the gateway in time:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const byModel = new Map(requests.map((s) => [`${s.metric.model}/${s.metric.status}`, Number(s.value[1])]));
  assert.equal(byModel.get('gpt-4o-mini/200'), 3);
  assert.equal(byModel.get('unresolved/404'), 1);
  const [tokens] = await query('sum(aisix_llm_total_tokens_total{model="gpt-4o-mini", api_key_id="k1"})');
  assert.equal(Number(tokens?.value[1]), 3 * USAGE.total_tokens);
  const [count] = await query('sum(aisix_request_e2e_latency_seconds_count{model="gpt-4o-mini"})');
  assert.equal(Number(count?.value[1]), 3);
  const [p50] = await query(
    'histogram_quantile(0.5, sum by (le) (aisix_request_e2e_latency_seconds_bucket{model="gpt-4o-mini"}))',
  );
  const median = Number(p50?.value[1]);
  assert.ok(median > 0 && median < 5, `median e2e latency ${median}s`);
  const [ttft] = await query(
    'sum(aisix_llm_time_to_first_token_seconds_count{stream="true"} or aisix_request_ttft_seconds_count)',
  );
  assert.ok(Number(ttft?.value[1]) >= 1);
  const [auth] = await query('sum(aisix_auth_decisions_total{result="denied"})');
  assert.equal(Number(auth?.value[1]), 1);
});

test('aggregated across workers (proxy.workers): counters and histogram buckets add up, promtool accepts it', async () => {
  const one = await g.gw.metrics.snapshot();
  const text = await aggregateMetricsText([one, one]);
  promtoolAccepts(text);
  await assertScaled(text, 2, [
    'aisix_requests_total{provider="openai",model="gpt-4o-mini",status="200",outcome="success"}',
    'aisix_request_e2e_latency_seconds_bucket{le="+Inf",',
    'aisix_llm_time_to_first_token_seconds_count{',
  ]);
});

function promtoolAccepts(text: string): void {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
}

/** The value of the first series line starting with `prefix`. */
function seriesValue(text: string, prefix: string): number | undefined {
  const l = text.split('\n').find((x) => x.startsWith(prefix));
  return l === undefined ? undefined : Number(l.slice(l.lastIndexOf(' ') + 1));
}

/** Each series of `prefixes` in `text` is `factor` times this gateway's own (non-zero) value. */
async function assertScaled(text: string, factor: number, prefixes: readonly string[]): Promise<void> {
  const own = await g.gw.metrics.text();
  for (const prefix of prefixes) {
    const v = seriesValue(own, prefix);
    assert.ok(v !== undefined && v > 0, prefix);
    assert.equal(seriesValue(text, prefix), factor * v, prefix);
  }
}

test('workers that exited (departedPart): their counters and histograms stay in the sum, their gauges do not', async () => {
  const one = await g.gw.metrics.snapshot();
  const gone = departedPart([departedPart([one]), one]);
  assert.deepEqual(
    [...new Set(gone.map((m) => m.type as unknown as string))].sort(),
    ['counter', 'histogram'],
    'gauges (in-flight, remaining quotas) describe a live process',
  );
  const text = await aggregateMetricsText([one, gone]);
  promtoolAccepts(text);
  await assertScaled(text, 3, [
    'aisix_requests_total{provider="openai",model="gpt-4o-mini",status="200",outcome="success"}',
    'aisix_request_e2e_latency_seconds_bucket{le="+Inf",',
    'aisix_request_e2e_latency_seconds_count{',
    'aisix_llm_time_to_first_token_seconds_count{',
  ]);
  const own = await g.gw.metrics.text();
  assert.equal(
    seriesValue(text, 'aisix_proxy_in_flight_requests{'),
    seriesValue(own, 'aisix_proxy_in_flight_requests{'),
  );
});
