/**
 * The job e2e rig: a real `aisix` process (embedded store, resources written through the Admin
 * API), three recording mock job upstreams (OpenAI `a` and `b`, Azure `z`), an OTLP/HTTP JSON
 * collector for usage events, and official `openai` clients for three caller keys: `client`
 * (every model), `narrow` (only `gpt-b`), `none` (only `claude`, an Anthropic model that cannot
 * serve job APIs).
 *
 * Models: `gpt-a` (pk-a, with cost and PK `default_headers`), `gpt-b` (pk-b, bare-host base),
 * `gpt-z` (Azure), `gpt-limited` (pk-b, `rate_limit.rpm: 2`), `gpt-dead` (nothing listening),
 * `grp` (a routing group over `gpt-b`), `claude` (Anthropic).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { request } from 'undici';
import {
  AdminClient,
  type AisixProcess,
  removeDir,
  startAisix,
  tempDir,
  waitStatus,
  waitUntil,
} from './harness.js';
import { type JobsUpstream, type SeenRequest, startJobsUpstream } from './jobs-upstream.js';

export const enc = (raw: string, alias: string) =>
  `aisix-${Buffer.from(`${raw};model,${alias}`).toString('base64url')}`;

export function uuidV5Url(name: string): string {
  const ns = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const h = createHash('sha1').update(ns).update(name).digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export interface Span {
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

/** An OTLP/HTTP JSON collector keeping every span it receives. */
async function startCollector(): Promise<{ url: string; spans: Span[]; server: Server }> {
  const spans: Span[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const doc = JSON.parse(Buffer.concat(chunks).toString()) as {
      resourceSpans?: { scopeSpans?: { spans?: Span[] }[] }[];
    };
    for (const rs of doc.resourceSpans ?? [])
      for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`, spans, server };
}

export const attr = (s: Span, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : undefined);
};

export interface JobsRig {
  readonly p: AisixProcess;
  readonly api: AdminClient;
  readonly a: JobsUpstream;
  readonly b: JobsUpstream;
  readonly z: JobsUpstream;
  readonly col: Awaited<ReturnType<typeof startCollector>>;
  readonly client: OpenAI;
  readonly narrow: OpenAI;
  readonly none: OpenAI;
  /** Model id of `gpt-b` (guardrail attachments scope it). */
  readonly gptB: string;
  close(): Promise<void>;
}

/** The last request an upstream saw. */
export function last(u: JobsUpstream): SeenRequest {
  const r = u.seen[u.seen.length - 1];
  assert.ok(r, 'the upstream saw no request');
  return r;
}

export async function startJobsRig(tag: string): Promise<JobsRig> {
  const dir = tempDir(tag);
  const [a, b, z, col] = await Promise.all([
    startJobsUpstream('a'),
    startJobsUpstream('b'),
    startJobsUpstream('z', '/openai'),
    startCollector(),
  ]);
  const p = await startAisix({ name: tag, dir, role: 'all' });
  await waitStatus(p, `${p.proxyUrl}/readyz`, 200);
  const api = new AdminClient(p.adminUrl);
  const pkA = await api.create('provider_keys', {
    display_name: 'pk-a',
    provider: 'openai',
    api_key: 'sk-upstream-a',
    api_base: `${a.base}/v1`,
    request: { default_headers: { 'x-team': 'alpha', 'X-Aisix-Request-Id': 'forged-by-template' } },
  });
  const pkB = await api.create('provider_keys', {
    display_name: 'pk-b',
    provider: 'openai',
    api_key: 'sk-upstream-b',
    api_base: b.base,
  });
  const pkZ = await api.create('provider_keys', {
    display_name: 'pk-azure',
    provider: 'azure',
    adapter: 'azure-openai',
    api_key: 'az-upstream-key',
    api_base: z.base,
  });
  const pkC = await api.create('provider_keys', {
    display_name: 'pk-claude',
    provider: 'anthropic',
    api_key: 'sk-ant',
    api_base: b.base,
  });
  const model = (name: string, pk: string, extra: Record<string, unknown> = {}) =>
    api.create('models', {
      display_name: name,
      provider: 'openai',
      model_name: name,
      provider_key_id: pk,
      ...extra,
    });
  await model('gpt-a', pkA.id, { cost: { input_per_1k: 1, output_per_1k: 2 } });
  const gptB = (await model('gpt-b', pkB.id)).id;
  await model('gpt-z', pkZ.id);
  await model('gpt-limited', pkB.id, { rate_limit: { rpm: 2 } });
  const pkDead = await api.create('provider_keys', {
    display_name: 'pk-dead',
    provider: 'openai',
    api_key: 'sk-dead',
    // Nothing listens on port 9 (discard) here: every call is a transport failure.
    api_base: 'http://127.0.0.1:9/v1',
  });
  await model('gpt-dead', pkDead.id);
  await api.create('models', { display_name: 'grp', routing: { targets: [{ model: 'gpt-b' }] } });
  await api.create('models', {
    display_name: 'claude',
    provider: 'anthropic',
    model_name: 'claude-x',
    provider_key_id: pkC.id,
  });
  await api.create('observability_exporters', { name: 'collector', kind: 'otlp_http', endpoint: col.url });
  const noModels = await api.create('api_keys', { allowed_models: ['claude'] });
  const onlyB = await api.create('api_keys', { allowed_models: ['gpt-b'] });
  // Seeded last: once it authenticates, everything above is served.
  const all = await api.create('api_keys', { allowed_models: ['*'] });
  assert.ok(all.plaintext && onlyB.plaintext && noModels.plaintext);
  const opts = { baseURL: `${p.proxyUrl}/v1`, maxRetries: 0 };
  const key = all.plaintext;
  await waitUntil(
    'the caller key authenticates',
    async () =>
      (await request(`${p.proxyUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } }))
        .statusCode === 200
        ? true
        : undefined,
    { timeoutMs: 10_000, alive: [p] },
  );
  return {
    p,
    api,
    a,
    b,
    z,
    col,
    client: new OpenAI({ apiKey: all.plaintext, ...opts }),
    narrow: new OpenAI({ apiKey: onlyB.plaintext, ...opts }),
    none: new OpenAI({ apiKey: noModels.plaintext, ...opts }),
    gptB,
    async close() {
      await p.kill();
      await Promise.all([a.close(), b.close(), z.close()]);
      col.server.close();
      removeDir(dir);
    },
  };
}
