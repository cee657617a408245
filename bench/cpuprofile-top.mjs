// Reads a V8 .cpuprofile (node --cpu-prof) and prints the functions with the most self time,
// and the most inclusive time, with file:line, so a profile taken under wrk load can be read
// without DevTools:   node bench/cpuprofile-top.mjs PROFILE [N=40]
import { readFileSync } from 'node:fs';

const [file, nArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node cpuprofile-top.mjs PROFILE [N]');
  process.exit(2);
}
const n = Number(nArg ?? 40);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const x of prof.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const dt = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const d = prof.timeDeltas[i] ?? 0;
  dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + d);
}
const total = [...dt.values()].reduce((a, b) => a + b, 0);
const label = (x) => {
  const cf = x.callFrame;
  const url = cf.url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, 'nm:/')
    .replace(/.*\/packages\//, 'pk:/');
  return `${cf.functionName || '(anon)'} ${url}:${cf.lineNumber + 1}`;
};
const self = new Map();
const incl = new Map();
for (const [id, t] of dt) {
  const x = byId.get(id);
  const k = label(x);
  self.set(k, (self.get(k) ?? 0) + t);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = label(byId.get(cur));
    if (seen.has(kk)) continue;
    seen.add(kk);
    incl.set(kk, (incl.get(kk) ?? 0) + t);
  }
}
const pct = (t) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
console.log(`total ${(total / 1e6).toFixed(2)} s sampled`);
console.log('\n== self ==');
for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(pct(t), k);
console.log('\n== inclusive ==');
for (const [k, t] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(pct(t), k);
