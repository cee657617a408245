/**
 * Pieces shared by the process-level rate-limit tests (`ratelimit-*.test.ts`,
 * `limits-admin.test.ts`): an OpenAI-wire upstream that reports a fixed token usage, a
 * resources file and a config file for gateways that read it, a burst sender with enough
 * connections for hundreds of concurrent requests, a log watcher that sees every line of a
 * process (not only the harness's last 64 KiB), Prometheus sample lookup and the minute-window
 * guard: rpm/tpm windows are aligned to the epoch minute (data-plane §9.2), so a burst whose
 * counts must land in one window starts only when enough of the current minute is left.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { type AisixProcess, httpGet, waitStatus, waitUntil } from './harness.js';

/** A pool for bursts: up to 256 connections per gateway, so 600 requests really run at once. */
export const burstAgent = new Agent({ keepAliveTimeout: 30_000, connections: 256 });

export interface UsageUpstream {
  /** `http://127.0.0.1:<port>/v1` */
  readonly apiBase: string;
  /** Chat completions answered so far. */
  calls(): number;
  close(): Promise<void>;
}

/**
 * Answers every chat completion with `pong` and a usage of `totalTokens` (prompt 10, the rest
 * completion), after `delayMs` (so concurrent requests really overlap in the gateway).
 */
export async function startUsageUpstream(opts: {
  totalTokens: number;
  delayMs?: number;
}): Promise<UsageUpstream> {
  let calls = 0;
  const prompt = Math.min(10, opts.totalTokens);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `mock: no route ${req.url}`, type: 'not_found' } }));
        return;
      }
      calls++;
      let model = '';
      try {
        model = String((JSON.parse(Buffer.concat(chunks).toString()) as { model?: unknown }).model ?? '');
      } catch {
        // an empty model in the answer: the test's assertions catch it
      }
      const body = JSON.stringify({
        id: `chatcmpl-usage-${calls}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }],
        usage: {
          prompt_tokens: prompt,
          completion_tokens: opts.totalTokens - prompt,
          total_tokens: opts.totalTokens,
        },
      });
      const send = () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (opts.delayMs) setTimeout(send, opts.delayMs);
      else send();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    apiBase: `http://127.0.0.1:${port}/v1`,
    calls: () => calls,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface FileKey {
  /** The entry's identity in the file (its id is derived from it, the same on every host). */
  name: string;
  /** The plaintext callers send (passed to the gateways through `env`). */
  plaintext: string;
  rateLimit?: Record<string, number>;
}

/** The env var that carries a file key's plaintext. */
export function keyEnvName(k: FileKey): string {
  return `E2E_KEY_${k.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** A resources file: one provider key on `apiBase`, model alias `chat`, the given caller keys. */
export function writeResources(dir: string, apiBase: string, keys: readonly FileKey[]): string {
  const lines = [
    '_format_version: "1"',
    'provider_keys:',
    `  - {display_name: mock, provider: openai, api_key: "sk-upstream-e2e", api_base: "${apiBase}"}`,
    'models:',
    '  - {display_name: chat, provider: openai, model_name: gpt-mock, provider_key: mock}',
    'api_keys:',
    ...keys.map((k) => {
      const rl =
        k.rateLimit === undefined
          ? ''
          : `, rate_limit: {${Object.entries(k.rateLimit)
              .map(([d, v]) => `${d}: ${v}`)
              .join(', ')}}`;
      return `  - {display_name: ${k.name}, key_env: ${keyEnvName(k)}, allowed_models: [chat]${rl}}`;
    }),
    '',
  ];
  const path = join(dir, 'resources.yaml');
  writeFileSync(path, lines.join('\n'));
  return path;
}

/** The env a gateway needs for the keys of `writeResources`. */
export function keysEnv(keys: readonly FileKey[]): Record<string, string> {
  return Object.fromEntries(keys.map((k) => [keyEnvName(k), k.plaintext]));
}

/**
 * A gateway config reading `resourcesFile`, with `extra` YAML appended verbatim (ratelimit,
 * cache, proxy.workers...). The listener addresses come from the harness's env overrides.
 */
export function writeGatewayConfig(dir: string, name: string, resourcesFile: string, extra = ''): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, `observability:\n  log_level: info\nresources_file: "${resourcesFile}"\n${extra}`);
  return path;
}

/** `ratelimit:` YAML for a single Redis (`url`) or a Redis Cluster (`nodes`). */
export function redisRateLimitYaml(conn: { url: string } | { nodes: readonly string[] }): string {
  const redis =
    'url' in conn
      ? `    url: "${conn.url}"\n`
      : `    mode: cluster\n    nodes: [${conn.nodes.map((n) => `"${n}"`).join(', ')}]\n`;
  return `ratelimit:\n  backend: redis\n  redis:\n${redis}`;
}

export interface ChatResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** When the response head arrived (epoch ms): the moment its Retry-After speaks about. */
  at: number;
  /** Which target (index into the burst's targets) served it. */
  target: number;
}

/** One non-streaming chat completion to `proxyUrl` with `key`; extra body fields merged in. */
export async function chat(
  proxyUrl: string,
  key: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<Omit<ChatResult, 'target'>> {
  const res = await request(`${proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'ping' }], ...extra }),
    dispatcher: burstAgent,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const at = Date.now();
  return { status: res.statusCode, headers: res.headers, body: await res.body.text(), at };
}

/** `n` concurrent chat completions, request `i` to `targets[i % targets.length]`. */
export async function burst(
  targets: readonly AisixProcess[],
  n: number,
  key: string,
  extra: Record<string, unknown> = {},
): Promise<ChatResult[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const target = i % targets.length;
      const r = await chat((targets[target] as AisixProcess).proxyUrl, key, extra);
      return { ...r, target };
    }),
  );
}

/** Status → count. */
export function tally(results: readonly { status: number }[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of results) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}

/**
 * One window shared by every admitted request (data-plane §9.6 headers): each admitted answer
 * carries `x-ratelimit-limit-requests: <limit>` and a `remaining` that counts its own request,
 * so over exactly `limit` admissions the remainders are 0..limit-1, each exactly once. Separate
 * counters (per replica, per worker) would repeat values.
 */
export function assertOneWindow(results: readonly ChatResult[], limit: number, what: string): void {
  const ok = results.filter((r) => r.status === 200);
  for (const r of ok)
    assert.equal(r.headers['x-ratelimit-limit-requests'], String(limit), `${what}: limit header`);
  const remaining = ok.map((r) => Number(r.headers['x-ratelimit-remaining-requests'])).sort((a, b) => a - b);
  assert.deepEqual(
    remaining,
    Array.from({ length: limit }, (_, i) => i),
    `${what}: x-ratelimit-remaining-requests of the admitted answers`,
  );
}

/**
 * Every 429 of a burst that just ended carries `Retry-After` = the seconds left in the
 * minute window (data-plane §9.2, at least 1), give or take one for the burst's own duration.
 */
export function assertRetryAfterMinute(results: readonly ChatResult[], what: string): void {
  for (const r of results.filter((x) => x.status === 429)) {
    // Seconds left in the minute when that refusal arrived (a long burst spans seconds).
    const left = 60 - (Math.floor(r.at / 1000) % 60);
    const ra = Number(r.headers['retry-after']);
    assert.ok(
      Number.isInteger(ra) && ra >= 1 && Math.abs(ra - left) <= 1,
      `${what}: Retry-After ${String(r.headers['retry-after'])}, ${left} s left in the minute`,
    );
  }
}

const MINUTE_MS = 60_000;

export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS);
}

/**
 * Waits, if needed, until at least `minSecs` of the current epoch minute are left, so a burst
 * started now is counted in one rpm/tpm window (the Redis server runs on this host: same clock).
 * Returns the minute the burst starts in.
 */
export async function roomInMinute(minSecs: number): Promise<number> {
  const left = MINUTE_MS - (Date.now() % MINUTE_MS);
  if (left < minSecs * 1000) await sleep(left + 200);
  return minuteOf(Date.now());
}

/** Asserts-by-throwing that a burst started in `startMinute` also ended in it. */
export function sameMinute(startMinute: number, what: string): void {
  const now = minuteOf(Date.now());
  if (now !== startMinute)
    throw new Error(
      `${what} crossed a minute boundary (${startMinute} → ${now}): its counts span two windows`,
    );
}

/** Every complete line a process writes to stdout/stderr from now on. */
export interface LogWatch {
  lines(): string[];
  count(substring: string): number;
  /** Resolves with the time (performance.now()) the first matching line was seen. */
  waitFor(substring: string, timeoutMs: number): Promise<number>;
}

export function watchLog(p: AisixProcess): LogWatch {
  const lines: string[] = [];
  const seen = new Map<string, number>();
  let partial = '';
  const onData = (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) lines.push(l);
  };
  p.child.stdout?.on('data', onData);
  p.child.stderr?.on('data', onData);
  const count = (s: string) => lines.filter((l) => l.includes(s)).length;
  return {
    lines: () => [...lines],
    count,
    async waitFor(s, timeoutMs) {
      return waitUntil(
        `${p.name} logs "${s}"`,
        async () => {
          if (!seen.has(s) && count(s) > 0) seen.set(s, performance.now());
          return seen.get(s);
        },
        { timeoutMs, intervalMs: 10, alive: [p] },
      );
    },
  };
}

/** The sum of the samples of `family` whose labels include every `labels` pair. */
export async function metricValue(
  p: AisixProcess,
  family: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const r = await httpGet(`${p.metricsUrl}/metrics`);
  if (r.status !== 200) throw new Error(`${p.name} /metrics → ${r.status}`);
  let sum = 0;
  for (const line of r.body.split('\n')) {
    if (!line.startsWith(`${family}{`) && !line.startsWith(`${family} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (!ok) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Readiness plus one served request with an unlimited key (the resources are applied). */
export async function waitServing(p: AisixProcess, probeKey: string, timeoutMs = 20_000): Promise<void> {
  await waitStatus(p, `${p.proxyUrl}/readyz`, 200, timeoutMs);
  await waitUntil(
    `${p.name} serves "chat"`,
    async () => ((await chat(p.proxyUrl, probeKey)).status === 200 ? true : undefined),
    { timeoutMs, alive: [p] },
  );
}
