/**
 * Shared pieces of the e2e suite, all real: `aisix` processes spawned from the built CLI
 * (`node packages/cli/dist/src/main.js --config <yaml> --role ...`) with their own config
 * file and free ports, a mock upstream speaking the OpenAI wire on node:http, a small Admin
 * API client over HTTP, and bounded waits (every wait has a deadline and says what it waited
 * for). Every spawned process is tracked and SIGKILLed by `killAll()` (tests call it from
 * `after`) and, as a last resort, when the test process exits.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '@aisix/testkit';
import { Agent, request } from 'undici';

export const ROOT = process.env.AISIX_REPO_ROOT ?? new URL('../../../', import.meta.url).pathname;
export const MAIN = join(ROOT, 'packages/cli/dist/src/main.js');
export const ADMIN_KEY = 'e2e-admin-key-0123456789';

/** One keep-alive pool for every request the harness makes (polls must not pay for connects). */
export const http = new Agent({ keepAliveTimeout: 30_000, connections: 16 });

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `aisix-e2e-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The environment of a child: nothing inherited that would change its configuration. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('AISIX_') && k !== 'LOG_LEVEL' && !k.startsWith('NODE_TEST')) env[k] = v;
  }
  return { ...env, ...extra };
}

export interface Ports {
  proxy: number;
  admin: number;
  metrics: number;
}

export interface AisixProcess {
  readonly name: string;
  readonly ports: Ports;
  readonly proxyUrl: string;
  readonly adminUrl: string;
  readonly metricsUrl: string;
  readonly child: ChildProcess;
  /** The last 64 KiB of stdout + stderr, for failure messages. */
  output(): string;
  /** Throws (with the output) if the process has exited. */
  assertAlive(): void;
  kill(): Promise<void>;
}

export interface StartOptions {
  name: string;
  dir: string;
  role: 'all' | 'admin' | 'gateway';
  /** Absent: the embedded store under `<dir>/<name>-data` (role all only). */
  etcd?: { endpoint: string; prefix: string };
  /** Use this config file instead of writing one (the listener addresses still come from env). */
  configPath?: string;
  env?: Record<string, string>;
}

export async function startAisix(opts: StartOptions): Promise<AisixProcess> {
  const ports: Ports = { proxy: await freePort(), admin: await freePort(), metrics: await freePort() };
  const env: Record<string, string> = {
    AISIX_PROXY__ADDR: `127.0.0.1:${ports.proxy}`,
    AISIX_ADMIN__ADDR: `127.0.0.1:${ports.admin}`,
    AISIX_OBSERVABILITY__METRICS__PROMETHEUS__ADDR: `127.0.0.1:${ports.metrics}`,
    ...opts.env,
  };
  let configPath = opts.configPath;
  if (configPath === undefined) {
    const lines = [
      `proxy:\n  addr: "127.0.0.1:${ports.proxy}"`,
      `observability:\n  log_level: info\n  metrics:\n    prometheus:\n      addr: "127.0.0.1:${ports.metrics}"`,
    ];
    if (opts.role !== 'gateway') {
      lines.push(`admin:\n  addr: "127.0.0.1:${ports.admin}"\n  admin_keys: ["${ADMIN_KEY}"]`);
    }
    if (opts.etcd) {
      lines.push(`etcd:\n  endpoints: ["${opts.etcd.endpoint}"]\n  prefix: "${opts.etcd.prefix}"`);
    } else {
      lines.push(`data_dir: "${join(opts.dir, `${opts.name}-data`)}"`);
    }
    configPath = join(opts.dir, `${opts.name}.yaml`);
    writeFileSync(configPath, `${lines.join('\n')}\n`);
  }
  const child = spawn(process.execPath, [MAIN, '--config', configPath, '--role', opts.role], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
  });
  const proc: AisixProcess = {
    name: opts.name,
    ports,
    proxyUrl: `http://127.0.0.1:${ports.proxy}`,
    adminUrl: `http://127.0.0.1:${ports.admin}`,
    metricsUrl: `http://127.0.0.1:${ports.metrics}`,
    child,
    output: () => out,
    assertAlive() {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `${opts.name} exited (code ${child.exitCode}, signal ${child.signalCode}):\n${out.slice(-4000)}`,
        );
      }
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
    },
  };
  return proc;
}

export async function killAll(procs: Iterable<{ kill(): Promise<void> } | undefined>): Promise<void> {
  await Promise.all([...procs].map((p) => p?.kill()));
}

export interface HttpResult {
  status: number;
  body: string;
}

export async function httpGet(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  const res = await request(url, { method: 'GET', headers, dispatcher: http, headersTimeout: 5000 });
  return { status: res.statusCode, body: await res.body.text() };
}

export async function httpSend(
  method: 'POST' | 'PUT' | 'DELETE',
  url: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<HttpResult> {
  const res = await request(url, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
    dispatcher: http,
    headersTimeout: 10_000,
  });
  return { status: res.statusCode, body: await res.body.text() };
}

/**
 * Polls `probe` until it returns a value (not undefined). Connection errors count as "not
 * yet". Fails after `timeoutMs` with `what` and the last observation.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; alive?: AisixProcess[] },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'no observation';
  for (;;) {
    for (const p of opts.alive ?? []) p.assertAlive();
    try {
      const v = await probe();
      if (v !== undefined) return v;
      last = 'probe returned nothing';
    } catch (err) {
      last = String(err);
    }
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what} (last: ${last})`);
    await sleep(opts.intervalMs ?? 50);
  }
}

export async function waitStatus(
  p: AisixProcess,
  url: string,
  status: number,
  timeoutMs = 20_000,
): Promise<void> {
  await waitUntil(
    `${p.name}: ${url} → ${status}`,
    async () => ((await httpGet(url)).status === status ? true : undefined),
    { timeoutMs, alive: [p] },
  );
}

export interface Entry<V = Record<string, unknown>> {
  id: string;
  value: V;
  revision: number;
}

/** The Admin API over HTTP: every call asserts a 200 unless it asks for the raw result. */
export class AdminClient {
  readonly base: string;
  readonly #headers: Record<string, string>;

  constructor(adminUrl: string, key = ADMIN_KEY) {
    this.base = `${adminUrl}/admin/v1`;
    this.#headers = { authorization: `Bearer ${key}` };
  }

  async raw(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<HttpResult> {
    if (method === 'GET') return httpGet(`${this.base}${path}`, this.#headers);
    return httpSend(method, `${this.base}${path}`, this.#headers, body);
  }

  async #ok<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const r = await this.raw(method, path, body);
    if (r.status !== 200) throw new Error(`admin ${method} ${path} → ${r.status} ${r.body}`);
    return JSON.parse(r.body) as T;
  }

  create<T = Entry & { plaintext?: string }>(kind: string, body: unknown): Promise<T> {
    return this.#ok<T>('POST', `/${kind}`, body);
  }
  list(kind: string): Promise<Entry[]> {
    return this.#ok<Entry[]>('GET', `/${kind}`);
  }
  remove(kind: string, id: string): Promise<{ deleted: boolean; id: string }> {
    return this.#ok('DELETE', `/${kind}/${id}`);
  }
  rotate(id: string): Promise<{ entry: Entry; plaintext: string }> {
    return this.#ok('POST', `/api_keys/${id}/rotate`);
  }
}

export interface UpstreamCall {
  model: string;
  authorization: string | undefined;
}

export interface MockUpstream {
  /** `http://127.0.0.1:<port>/v1`, the provider key's `api_base`. */
  readonly apiBase: string;
  readonly calls: UpstreamCall[];
  close(): Promise<void>;
}

/** A local OpenAI-wire upstream: non-streaming chat completions answering `pong`. */
export async function startMockUpstream(): Promise<MockUpstream> {
  const calls: UpstreamCall[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: { message: `mock: no route ${req.method} ${req.url}`, type: 'not_found' },
          }),
        );
        return;
      }
      let model = '';
      try {
        model = String((JSON.parse(Buffer.concat(chunks).toString()) as { model?: unknown }).model ?? '');
      } catch {
        // recorded as an empty model: the test's assertions catch it
      }
      calls.push({ model, authorization: req.headers.authorization });
      const body = JSON.stringify({
        id: `chatcmpl-mock-${calls.length}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'pong' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    apiBase: `http://127.0.0.1:${port}/v1`,
    calls,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Model aliases a caller key sees on a replica (`GET /v1/models`), or the HTTP status on failure. */
export async function servedModels(p: AisixProcess, key: string): Promise<string[] | number> {
  const r = await httpGet(`${p.proxyUrl}/v1/models`, { authorization: `Bearer ${key}` });
  if (r.status !== 200) return r.status;
  return (JSON.parse(r.body) as { data: { id: string }[] }).data.map((m) => m.id);
}

/** Status of a non-streaming chat completion on a replica (plain undici). */
export async function chatStatus(p: AisixProcess, key: string, model: string): Promise<HttpResult> {
  return httpSend(
    'POST',
    `${p.proxyUrl}/v1/chat/completions`,
    { authorization: `Bearer ${key}` },
    { model, messages: [{ role: 'user', content: 'ping' }] },
  );
}

export interface StatusConfig {
  state: string;
  source: { type: string; connected?: boolean; observed_revision?: number };
  applied?: { applied_revision?: number; config_hash: string; resource_counts: Record<string, number> };
}

export async function statusConfig(p: AisixProcess): Promise<StatusConfig> {
  const r = await httpGet(`${p.metricsUrl}/status/config`);
  if (r.status !== 200) throw new Error(`${p.name} /status/config → ${r.status} ${r.body}`);
  return JSON.parse(r.body) as StatusConfig;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function ms(n: number): string {
  return `${n.toFixed(1)} ms`;
}

/**
 * The pnpm executable: the one on PATH (`npx -y pnpm@12.4.2 test` puts it there), else the
 * README's pinned one, located through npx.
 */
export function pnpmBin(): string {
  const find = (cmd: string, args: string[]) =>
    spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim().split('\n').pop() ?? '';
  const onPath = find('sh', ['-c', 'command -v pnpm']);
  if (onPath !== '') return onPath;
  const pinned = find('npx', ['-y', 'pnpm@12.4.2', 'exec', 'sh', '-c', 'command -v pnpm']);
  assert.ok(pinned.includes('pnpm'), 'cannot locate pnpm (npx -y pnpm@12.4.2)');
  return pinned;
}
