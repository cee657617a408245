/**
 * With `proxy.workers: 2` the status a client reads is the pod's, not one worker's
 * (control-plane §6.2, §4.6): the primary serves `/status/models`, `/metrics` and the Admin
 * API, and gathers every worker's model health (cooldowns, background checks, failure counts)
 * on each read. A real `aisix --role all` process reading a resources file (the embedded store
 * cannot be shared by workers), a local mock upstream (real node:http server).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_KEY,
  AdminClient,
  type AisixProcess,
  chatStatus,
  httpGet,
  killAll,
  removeDir,
  startAisix,
  tempDir,
  waitUntil,
} from './harness.js';
import { watchLog } from './limits-harness.js';

const CALLER = 'sk-e2e-status-workers-000000000';

/** `dead` and `flaky` fail (503 / 500), everything else answers a chat completion. */
function startUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const model = String(
        (JSON.parse(Buffer.concat(chunks).toString() || '{}') as { model?: string }).model,
      );
      const status = model === 'dead' ? 503 : model === 'flaky' ? 500 : 200;
      const body =
        status === 200
          ? {
              id: 'c1',
              object: 'chat.completion',
              created: 1,
              model,
              choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
            }
          : { error: { message: 'down' } };
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

type Row = Record<string, unknown>;

describe('proxy.workers: 2: /status/models, /admin/v1/models/status and /admin/v1/health report the pod', () => {
  const dir = tempDir('status-workers');
  let upstream: Server;
  let pod: AisixProcess;
  let api: AdminClient;

  before(async () => {
    upstream = await startUpstream();
    const port = (upstream.address() as AddressInfo).port;
    const resources = join(dir, 'resources.yaml');
    writeFileSync(
      resources,
      [
        '_format_version: "1"',
        'provider_keys:',
        `  - {display_name: mock, provider: openai, api_key: "sk-up", api_base: "http://127.0.0.1:${port}/v1"}`,
        'models:',
        '  - {display_name: ok, provider: openai, model_name: ok, provider_key: mock}',
        '  - {display_name: flaky, provider: openai, model_name: flaky, provider_key: mock, retries: 0}',
        '  - display_name: dead',
        '    provider: openai',
        '    model_name: dead',
        '    provider_key: mock',
        '    background_model_check: {enabled: true, interval_seconds: 5, timeout_seconds: 2, prompt: ping, max_tokens: 1, stale_after_seconds: 300}',
        '  - {display_name: grp, routing: {targets: [{model: flaky}, {model: ok}]}}',
        'api_keys:',
        '  - {display_name: caller, key_env: STATUS_CALLER_KEY, allowed_models: ["*"]}',
        '',
      ].join('\n'),
    );
    const config = join(dir, 'pod.yaml');
    writeFileSync(
      config,
      `observability:\n  log_level: info\nresources_file: "${resources}"\nadmin:\n  admin_keys: ["${ADMIN_KEY}"]\nproxy:\n  workers: 2\n`,
    );
    pod = await startAisix({
      name: 'pod',
      dir,
      role: 'all',
      configPath: config,
      env: { STATUS_CALLER_KEY: CALLER },
    });
    await watchLog(pod).waitFor('all gateway workers started', 30_000);
    api = new AdminClient(pod.adminUrl);
  });

  after(async () => {
    await killAll([pod]);
    await new Promise((r) => upstream?.close(r));
    removeDir(dir);
  });

  const statusRows = async (): Promise<Row[]> => {
    const r = await httpGet(`${pod.metricsUrl}/status/models`);
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body) as Row[];
  };
  const rowOf = (rows: Row[], name: string) => rows.find((r) => r.display_name === name) as Row;

  test("a worker's background check shows on the primary's /status/models (unhealthy, last check)", async () => {
    const rows = await waitUntil(
      'dead unhealthy',
      async () => {
        const list = await statusRows();
        return rowOf(list, 'dead')?.status === 'unhealthy' ? list : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200, alive: [pod] },
    );
    const dead = rowOf(rows, 'dead');
    assert.equal(dead.last_check_status, 503);
    assert.equal(dead.status_reason, 'upstream_server_error');
    assert.match(String(dead.last_checked_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.equal(rowOf(rows, 'ok').status, 'healthy');
    assert.equal(rowOf(rows, 'grp').status, 'not_applicable');
  });

  test('a cooldown taken on one worker is what every read of the pod shows (status, admin, metrics)', async () => {
    const r = await chatStatus(pod, CALLER, 'flaky');
    assert.equal(r.status, 502);
    for (let i = 0; i < 6; i++) {
      const row = rowOf(await statusRows(), 'flaky');
      assert.equal(row.status, 'cooldown', `read ${i}: ${JSON.stringify(row)}`);
      assert.equal(row.status_reason, 'upstream_server_error');
      assert.match(String(row.cooldown_until), /Z$/);
    }
    const admin = await api.raw('GET', '/models/status');
    assert.equal(admin.status, 200);
    assert.equal(rowOf(JSON.parse(admin.body) as Row[], 'flaky').status, 'cooldown');
    const metrics = await httpGet(`${pod.metricsUrl}/metrics`);
    assert.match(metrics.body, /^aisix_deployment_cooled_down_total\{[^}]*model="flaky"[^}]*\} 1$/m);
  });

  test('/admin/v1/health: 16 failures spread over the workers make the alias down (2) for the pod', async () => {
    for (let i = 0; i < 16; i++) assert.equal((await chatStatus(pod, CALLER, 'flaky')).status, 502);
    const r = await api.raw('GET', '/health');
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { status: string; models: { name: string; health: number }[] };
    assert.equal(body.models.find((m) => m.name === 'flaky')?.health, 2);
    assert.equal(body.models.find((m) => m.name === 'ok')?.health, 0);
    assert.equal(body.status, 'unhealthy');
  });
});
