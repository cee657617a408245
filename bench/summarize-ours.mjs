// Our gateway's numbers from one run folder of the shared rig, against the acceptance goals:
//   node bench/summarize-ours.mjs RUN_DIR [TARGET=ours]
// Ratios are paired per round (same round, same test), then the median over rounds is taken,
// exactly as the rig's summarize.mjs does; min–max of the per-round ratios is shown as spread.
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const ours = process.argv[3] ?? 'ours';
if (!dir) {
  console.error('usage: node summarize-ours.mjs RUN_DIR [TARGET]');
  process.exit(2);
}
const lines = (f) =>
  existsSync(join(dir, f))
    ? readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
const results = lines('results.jsonl');
const rss = lines('rss.jsonl');
const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const rounds = [...new Set(results.map((r) => r.round))].sort((a, b) => a - b);
const get = (test, target, round) =>
  results.find((r) => r.test === test && r.target === target && r.round === round)?.r;
const perRound = (test, ref, key, fn) =>
  rounds
    .map((rd) => {
      const a = get(test, ours, rd);
      const b = get(test, ref, rd);
      return a && b && !a.error && !b.error ? fn(a[key], b[key]) : NaN;
    })
    .filter(Number.isFinite);
const errs = (r) =>
  r
    ? (r.err_connect ?? 0) +
      (r.err_read ?? 0) +
      (r.err_write ?? 0) +
      (r.err_status ?? 0) +
      (r.err_timeout ?? 0) +
      (r.err_other ?? 0) +
      (r.errors ?? 0)
    : 0;
const fx = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const spread = (xs, d = 2) => (xs.length ? `[${fx(Math.min(...xs), d)}–${fx(Math.max(...xs), d)}]` : '');
const verdict = (ok) => (ok === undefined ? '' : ok ? 'met' : '**not met**');

const tests = [...new Set(results.filter((r) => r.target === ours).map((r) => r.test))];
const out = [`# ${ours}: acceptance numbers (${rounds.length} rounds, paired medians)`, ''];
out.push('| metric | ours | per-round spread | goal | |');
out.push('|---|---|---|---|---|');
for (const test of tests.filter((t) => /^(json|sse)-c\d+$/.test(t) && t !== 'json-c1')) {
  const rs = perRound(test, 'node-undici', 'rps', (a, b) => a / b);
  const m = median(rs);
  const abs = median(rounds.map((rd) => get(test, ours, rd)?.rps));
  out.push(
    `| ${test} req/s ÷ node-undici | ${fx(m)}× (${fx(abs, 0)} req/s) | ${spread(rs)} | ≥ 0.65× | ${verdict(rs.length ? m >= 0.65 : undefined)} |`,
  );
  const pk = perRound(test, 'portkey', 'rps', (a, b) => a / b);
  if (pk.length) out.push(`| ${test} req/s ÷ portkey | ${fx(median(pk), 1)}× | ${spread(pk, 1)} | info | |`);
}
if (tests.includes('json-c1')) {
  const d = perRound('json-c1', 'floor', 'p50_ms', (a, b) => a - b);
  const m = median(d);
  out.push(
    `| json-c1 added p50 vs floor | ${fx(m, 3)} ms | ${spread(d, 3)} | < 0.3 ms | ${verdict(d.length ? m < 0.3 : undefined)} |`,
  );
  const u = median(
    rounds.map((rd) => {
      const a = get('json-c1', 'node-undici', rd);
      const b = get('json-c1', 'floor', rd);
      return a && b ? a.p50_ms - b.p50_ms : NaN;
    }),
  );
  out.push(`| (node-undici added p50, same run) | ${fx(u, 3)} ms | | info | |`);
}
if (tests.includes('sse-ttft')) {
  const d = perRound('sse-ttft', 'floor', 'p50_ms', (a, b) => a - b);
  const m = median(d);
  out.push(
    `| sse-ttft added TTFT p50 vs floor | ${fx(m, 3)} ms | ${spread(d, 3)} | < 1.5 ms | ${verdict(d.length ? m < 1.5 : undefined)} |`,
  );
  const u = median(
    rounds.map((rd) => {
      const a = get('sse-ttft', 'node-undici', rd);
      const b = get('sse-ttft', 'floor', rd);
      return a && b ? a.p50_ms - b.p50_ms : NaN;
    }),
  );
  out.push(`| (node-undici added TTFT, same run) | ${fx(u, 3)} ms | | info | |`);
}
const mine = rss.filter((r) => r.target === ours);
const start = mine.find((r) => r.round === 0);
const after = mine.filter((r) => r.round > 0).map((r) => r.rss_kb / 1024);
if (start)
  out.push(
    `| RSS after start | ${fx(start.rss_kb / 1024, 1)} MB | | < 90 MB | ${verdict(start.rss_kb / 1024 < 90)} |`,
  );
if (after.length) {
  const mx = Math.max(...after);
  out.push(`| RSS after load (max over rounds) | ${fx(mx, 1)} MB | | < 130 MB | ${verdict(mx < 130)} |`);
}
const e = results.filter((r) => r.target === ours).reduce((s, r) => s + errs(r.r), 0);
out.push(`| errors (all tests, all rounds) | ${e} | | 0 | ${verdict(e === 0)} |`);

// Evidence that logging and metrics were on during the run.
const log = join(dir, `${ours}.log`);
if (existsSync(log)) {
  // Read in pieces: a cache-hit run logs over 512 MiB, more than one string can hold.
  const needle = Buffer.from('proxy request completed');
  let n = 0;
  let carry = Buffer.alloc(0);
  for await (const piece of createReadStream(log)) {
    const buf = carry.length ? Buffer.concat([carry, piece]) : piece;
    for (let i = buf.indexOf(needle); i !== -1; i = buf.indexOf(needle, i + 1)) n++;
    // Keep a tail shorter than the needle: a match split across pieces is counted once.
    carry = buf.subarray(Math.max(0, buf.length - needle.length + 1));
  }
  out.push('');
  out.push(`Access log: ${n} \`proxy request completed\` lines in \`${ours}.log\`.`);
}
const scrape = join(dir, `${ours}-metrics.txt`);
if (existsSync(scrape)) {
  let total = 0;
  for (const l of readFileSync(scrape, 'utf8').split('\n')) {
    if (l.startsWith('aisix_requests_total{')) total += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  out.push(`Metrics: last scrape during the run counted aisix_requests_total = ${total}.`);
}
console.log(out.join('\n'));
