/**
 * Routing knobs and runtime status through the product: the built `aisix` binary (`--role all`,
 * embedded store), resources written through the Admin API, traffic through the official openai
 * SDK to a local mock upstream (real node:http server) that answers per upstream model.
 *
 * - A group's routing knobs (strategy, `fallback_on_statuses`) change live by an admin PUT.
 * - A model with a failing `background_model_check` turns `unhealthy`; `/status/models` (metrics
 *   listener) and `GET /admin/v1/models/status` return the same rows, each checked field by
 *   field against control-plane §6.2; `GET /admin/v1/health` against §4.6.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import {
  AdminClient,
  type AisixProcess,
  httpGet,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';

const CHECK_PROMPT = 'e2e-health-ping';
/** Upstream model → status it answers (default 200 with its own name as content). */
const answer = new Map<string, number>();
/** Upstream model → status its background checks get (default 200). */
const checkAnswer = new Map<string, number>();

function startUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as {
        model?: string;
        messages?: { content?: string }[];
      };
      const model = String(body.model);
      const isCheck = body.messages?.[0]?.content === CHECK_PROMPT;
      const status = (isCheck ? checkAnswer : answer).get(model) ?? 200;
      const out =
        status === 200
          ? {
              id: 'c1',
              object: 'chat.completion',
              created: 1,
              model,
              choices: [{ index: 0, message: { role: 'assistant', content: model }, finish_reason: 'stop' }],
              usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
            }
          : { error: { message: `status ${status}` } };
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(out));
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const ROW_FIELDS = [
  'id',
  'display_name',
  'kind',
  'status',
  'cooldown_until',
  'last_checked_at',
  'last_check_status',
  'status_reason',
];
const REASONS = [
  'upstream_auth_failure',
  'upstream_request_timeout',
  'upstream_rate_limited',
  'upstream_server_error',
  'upstream_status_failure',
  'request_timeout',
  'transport_error',
  'upstream_decode_error',
  'upstream_in_band_error',
];

type Row = Record<string, unknown>;

function assertRow(r: Row): void {
  for (const k of Object.keys(r)) assert.ok(ROW_FIELDS.includes(k), `unexpected field ${k}`);
  assert.equal(typeof r.id, 'string');
  assert.equal(typeof r.display_name, 'string');
  assert.ok(['direct', 'routing', 'ensemble', 'semantic'].includes(String(r.kind)));
  assert.ok(['healthy', 'unhealthy', 'cooldown', 'not_applicable'].includes(String(r.status)));
  if (r.kind !== 'direct') assert.deepEqual(Object.keys(r).sort(), ['display_name', 'id', 'kind', 'status']);
  if (r.kind !== 'direct') assert.equal(r.status, 'not_applicable');
  if ('cooldown_until' in r) assert.match(String(r.cooldown_until), RFC3339);
  if ('last_checked_at' in r) assert.match(String(r.last_checked_at), RFC3339);
  if ('last_check_status' in r) assert.ok(Number.isInteger(r.last_check_status));
  if ('status_reason' in r) assert.ok(REASONS.includes(String(r.status_reason)));
}

describe('routing knobs live from the Admin API; runtime status endpoints (--role all, embedded store)', () => {
  const dir = tempDir('routing-status');
  let upstream: Server;
  let proc: AisixProcess | undefined;
  let api: AdminClient;
  let client: OpenAI;
  const ids = new Map<string, string>();

  before(async () => {
    upstream = await startUpstream();
    proc = await startAisix({ name: 'routing-status', dir, role: 'all' });
    await waitStatus(proc, `${proc.proxyUrl}/readyz`, 200);
    api = new AdminClient(proc.adminUrl);
    const port = (upstream.address() as AddressInfo).port;
    const pk = await api.create('provider_keys', {
      display_name: 'mock',
      provider: 'openai',
      api_key: 'sk-up',
      api_base: `http://127.0.0.1:${port}/v1`,
    });
    const direct = (name: string, extra: Record<string, unknown> = {}) => ({
      display_name: name,
      provider: 'openai',
      model_name: name,
      provider_key_id: pk.id,
      retries: 0,
      cooldown: { enabled: false },
      ...extra,
    });
    const docs: Record<string, unknown>[] = [
      direct('up-a', { cost: { input_per_1k: 1, output_per_1k: 1 } }),
      direct('up-b', { cost: { input_per_1k: 0.1, output_per_1k: 0.1 } }),
      direct('up-dead', {
        background_model_check: {
          enabled: true,
          interval_seconds: 5,
          timeout_seconds: 2,
          prompt: CHECK_PROMPT,
          max_tokens: 1,
          stale_after_seconds: 300,
        },
      }),
      { display_name: 'grp', routing: { targets: [{ model: 'up-a' }, { model: 'up-b' }] } },
      { display_name: 'guarded', routing: { targets: [{ model: 'up-dead' }] } },
    ];
    for (const d of docs) ids.set(String(d.display_name), (await api.create('models', d)).id);
    const key = await api.create('api_keys', { allowed_models: ['*'] });
    assert.ok(key.plaintext);
    client = new OpenAI({ apiKey: key.plaintext, baseURL: `${proc.proxyUrl}/v1`, maxRetries: 0 });
  });

  after(async () => {
    await proc?.kill();
    await new Promise((r) => upstream?.close(r));
    removeDir(dir);
  });

  async function chat(model: string): Promise<string | number> {
    try {
      const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] });
      return r.choices[0]?.message.content ?? '';
    } catch (err) {
      if (err instanceof OpenAI.APIError) return err.status ?? 0;
      throw err;
    }
  }

  test('fallback_on_statuses and strategy change live through admin PUTs', async () => {
    const p = proc as AisixProcess;
    await waitUntil('grp served', async () => ((await chat('grp')) === 'up-a' ? true : undefined), {
      timeoutMs: 10_000,
      alive: [p],
    });
    answer.set('up-a', 404);
    assert.equal(await chat('grp'), 404);
    const put = await api.raw('PUT', `/models/${ids.get('grp')}`, {
      display_name: 'grp',
      routing: { targets: [{ model: 'up-a' }, { model: 'up-b' }], fallback_on_statuses: [404] },
    });
    assert.equal(put.status, 200, put.body);
    await waitUntil('404 fails over', async () => ((await chat('grp')) === 'up-b' ? true : undefined), {
      timeoutMs: 10_000,
      alive: [p],
    });
    answer.delete('up-a');
    const put2 = await api.raw('PUT', `/models/${ids.get('grp')}`, {
      display_name: 'grp',
      routing: { strategy: 'failover', targets: [{ model: 'up-a' }, { model: 'up-b' }] },
    });
    assert.equal(put2.status, 200, put2.body);
    await waitUntil('failover again', async () => ((await chat('grp')) === 'up-a' ? true : undefined), {
      timeoutMs: 10_000,
      alive: [p],
    });
    // least_cost: up-b is cheaper than up-a.
    const put3 = await api.raw('PUT', `/models/${ids.get('grp')}`, {
      display_name: 'grp',
      routing: { strategy: 'least_cost', targets: [{ model: 'up-a' }, { model: 'up-b' }] },
    });
    assert.equal(put3.status, 200, put3.body);
    await waitUntil('least_cost', async () => ((await chat('grp')) === 'up-b' ? true : undefined), {
      timeoutMs: 10_000,
      alive: [p],
    });
    // A bad knob is refused with the field's pointer and changes nothing.
    const bad = await api.raw('PUT', `/models/${ids.get('grp')}`, {
      display_name: 'grp',
      routing: { targets: [{ model: 'up-a' }], when_all_unavailable: 'sometimes' },
    });
    assert.equal(bad.status, 400);
    assert.match(
      (JSON.parse(bad.body) as { error_msg: string }).error_msg,
      /^schema validation failed at \/routing\/when_all_unavailable: /,
    );
    assert.equal(await chat('grp'), 'up-b');
  });

  test('a failing background check: unhealthy on /status/models and /admin/v1/models/status (same rows, spec fields); the group answers 503', async () => {
    const p = proc as AisixProcess;
    checkAnswer.set('up-dead', 503);
    // The check ran when the model was created (before this test set 503) or runs within 5 s.
    const rows = await waitUntil(
      'up-dead unhealthy',
      async () => {
        const r = await httpGet(`${p.metricsUrl}/status/models`);
        const list = JSON.parse(r.body) as Row[];
        return list.find((x) => x.display_name === 'up-dead')?.status === 'unhealthy' ? list : undefined;
      },
      { timeoutMs: 12_000, intervalMs: 200, alive: [p] },
    );
    for (const r of rows) assertRow(r);
    const dead = rows.find((x) => x.display_name === 'up-dead') as Row;
    assert.equal(dead.id, ids.get('up-dead'));
    assert.equal(dead.last_check_status, 503);
    assert.equal(dead.status_reason, 'upstream_server_error');
    assert.equal(rows.find((x) => x.display_name === 'grp')?.status, 'not_applicable');
    assert.equal(rows.find((x) => x.display_name === 'grp')?.kind, 'routing');

    const admin = await api.raw('GET', '/models/status');
    assert.equal(admin.status, 200);
    const adminRows = JSON.parse(admin.body) as Row[];
    for (const r of adminRows) assertRow(r);
    assert.deepEqual(
      adminRows.map((r) => [r.id, r.status, r.last_check_status ?? null]),
      rows.map((r) => [r.id, r.status, r.last_check_status ?? null]),
    );

    const raw = await fetch(`${p.proxyUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'guarded', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(raw.status, 503);
    assert.equal(raw.headers.get('retry-after'), '30');
    assert.equal(
      ((await raw.json()) as { error: { type: string } }).error.type,
      'all_candidates_unavailable',
    );
  });

  test('GET /admin/v1/health has the §4.6 shape', async () => {
    const r = await api.raw('GET', '/health');
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as Record<string, unknown>;
    assert.ok(['ok', 'degraded', 'unhealthy'].includes(String(body.status)));
    for (const k of Object.keys(body)) assert.ok(['status', 'models', 'config'].includes(k), k);
    const models = body.models as Record<string, unknown>[];
    assert.equal(models.length, ids.size);
    for (const m of models) {
      assert.deepEqual(Object.keys(m).sort(), ['health', 'id', 'name']);
      assert.ok([0, 1, 2].includes(m.health as number));
      assert.equal(ids.get(String(m.name)), m.id);
    }
    if ('config' in body) {
      const c = body.config as Record<string, unknown>;
      assert.ok(Number.isInteger(c.snapshot_revision));
      assert.ok(c.snapshot_age_seconds === null || Number.isInteger(c.snapshot_age_seconds));
    }
  });
});
