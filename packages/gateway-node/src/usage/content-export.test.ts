/**
 * `content_mode: full` on the observability exporters (data-plane §12.3-12.4): the prompt the
 * upstream received and the completion the caller received reach the exporters that opted in,
 * cut at their `content_max_bytes`, masked as the guardrails masked them (JSON and streamed),
 * never for a 403; an exporter left in `metadata_only` beside it gets no content at all.
 * Collectors are local HTTP servers (the Datadog logs intake shape and an OTLP/HTTP collector).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import OpenAI from 'openai';
import {
  buildSnapshot,
  CALLER_KEY,
  type Docs,
  type Started,
  standardDocs,
  startTestGateway,
} from '../test/fixtures.js';
import { type MockCollector, startMockCollector } from '../test/mock-collector.js';
import { chatJson, chatSse, type MockUpstream, startMockUpstream } from '../test/mock-upstream.js';
import { capUtf8 } from './content.js';

type Entry = Record<string, unknown>;

async function waitFor(cond: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!cond()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let up: MockUpstream;
let g: Started;
let intake: Server;
let ddPort = 0;
let col: MockCollector;
let client: OpenAI;
let revision = 1;
const entries: Entry[] = [];

function apply(extra: Docs & Record<string, unknown>): void {
  revision += 1;
  g.source.set(buildSnapshot({ ...standardDocs(up.url), ...extra } as Docs, revision));
}

function exporters(fullBytes: number): Record<string, Record<string, unknown>> {
  return {
    dd: {
      name: 'dd-full',
      kind: 'datadog',
      site: `127.0.0.1:${ddPort}`,
      service: 'gw',
      credential_ref: 'content',
      content_mode: 'full',
      content_max_bytes: fullBytes,
    },
    otlp: {
      name: 'otlp-meta',
      kind: 'otlp_http',
      endpoint: `${col.url}/v1/traces`,
      content_mode: 'metadata_only',
    },
  };
}

/** The raw bodies the OTLP collector received. */
function spanStrings(): string[] {
  const out: string[] = [];
  for (const p of col.posts) out.push(p.raw);
  return out;
}

before(async () => {
  process.env.DD_CRED_CONTENT_API_KEY = 'dd-content-key';
  intake = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      entries.push(...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Entry[]));
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => intake.listen(0, '127.0.0.1', r));
  ddPort = (intake.address() as AddressInfo).port;
  col = await startMockCollector();
  up = await startMockUpstream(chatJson('the card is 4111 1111 1111 1111, thanks'));
  g = await startTestGateway(buildSnapshot(standardDocs(up.url)));
  client = new OpenAI({ apiKey: CALLER_KEY, baseURL: `${g.base}/v1`, maxRetries: 0 });
});

beforeEach(() => {
  entries.length = 0;
});

after(async () => {
  await g.gw.close();
  await up.close();
  await col.close();
  await new Promise((r) => intake.close(r));
});

async function lastEntry(requestId: string): Promise<Entry> {
  await waitFor(() => entries.some((e) => e.request_id === requestId && e.completion !== undefined));
  return entries.filter((e) => e.request_id === requestId).at(-1) as Entry;
}

test('a full-content exporter gets prompt and completion; a metadata_only one beside it gets neither', async () => {
  apply({ observability_exporters: exporters(131072) });
  up.handle(chatJson('Paris is the capital.'));
  const r = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'capital of France?' }] })
    .withResponse();
  const id = r.response.headers.get('x-aisix-request-id') as string;
  const e = await lastEntry(id);
  assert.deepEqual(JSON.parse(e.prompt as string), [{ role: 'user', content: 'capital of France?' }]);
  // The mock answers two choices: one text per choice.
  assert.equal(e.completion, 'Paris is the capital.\nsecond');
  await waitFor(() => spanStrings().some((s) => s.includes(id)));
  for (const s of spanStrings()) {
    assert.ok(
      !s.includes('gen_ai.prompt') && !s.includes('capital of France'),
      'metadata_only exports no content',
    );
  }
});

test('content is cut at content_max_bytes on a character boundary', async () => {
  apply({ observability_exporters: exporters(10) });
  up.handle(chatJson('ééééééééé long answer'));
  const r = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(100) }] })
    .withResponse();
  const e = await lastEntry(r.response.headers.get('x-aisix-request-id') as string);
  assert.equal(e.completion, 'ééééé'); // 10 bytes of 2-byte characters (the second choice is cut off)
  assert.equal(Buffer.byteLength(e.prompt as string), 10);
});

test('masked text is what the exporter gets, JSON and streamed', async () => {
  apply({
    observability_exporters: exporters(131072),
    guardrails: { pii: { name: 'pii', kind: 'pii', detectors: [{ type: 'bank_card', action: 'mask' }] } },
  });
  up.handle(chatJson('your card 4111 1111 1111 1111 is on file'));
  const r = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'my card is 4111111111111111' }] })
    .withResponse();
  const e = await lastEntry(r.response.headers.get('x-aisix-request-id') as string);
  assert.ok(!String(e.prompt).includes('4111111111111111'), `prompt masked: ${e.prompt}`);
  assert.ok(!String(e.completion).includes('4111'), `completion masked: ${e.completion}`);
  assert.match(String(e.completion), /your card .+ is on file/);

  entries.length = 0;
  up.handle(chatSse({ words: ['card ', '4111 1111 ', '1111 1111', ' ok'] }));
  const s = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'again' }], stream: true })
    .withResponse();
  let streamed = '';
  for await (const c of s.data) streamed += c.choices[0]?.delta?.content ?? '';
  assert.ok(!streamed.includes('4111'), 'the caller got masked text');
  const se = await lastEntry(s.response.headers.get('x-aisix-request-id') as string);
  assert.equal(se.completion, streamed, 'the exporter got what the caller got');
});

test('a request refused with 403 exports no content', async () => {
  apply({ observability_exporters: exporters(131072) });
  const err = await client.chat.completions
    .create({ model: 'secret-model', messages: [{ role: 'user', content: 'forbidden prompt' }] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.APIError && err.status === 403);
  await waitFor(() => entries.some((e) => e.status_code === 403));
  const e = entries.find((x) => x.status_code === 403) as Entry;
  assert.equal(e.prompt, undefined);
  assert.equal(e.completion, undefined);
  assert.ok(!JSON.stringify(entries).includes('forbidden prompt'));
});

test('capUtf8 never splits a character or a surrogate pair', () => {
  assert.equal(capUtf8('abc', 3), 'abc');
  assert.equal(capUtf8('abcd', 3), 'abc');
  assert.equal(capUtf8('a😀b', 4), 'a'); // the emoji is 4 bytes: 5 needed
  assert.equal(capUtf8('a😀b', 5), 'a😀');
  assert.equal(capUtf8('中文字', 7), '中文');
  assert.equal(capUtf8('', 1), '');
});
