/**
 * Guardrails end to end through the gateway (docs/guardrails.md): the official openai and
 * @anthropic-ai/sdk clients against a gateway over real mock upstreams. Input block and mask on
 * every scanned endpoint family, output block and mask on JSON and streamed answers in each
 * caller dialect (PII split across many SSE chunks is masked in the released stream), cache
 * entries stored masked, monitor mode, attachment precedence, disabled guardrails, live edits.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { pino } from 'pino';
import {
  type CacheRig,
  cacheDocs,
  cacheHeader,
  KEY_A,
  KEY_B,
  metric,
  type Policies,
  post,
  postUntil,
  settle,
  startCacheRig,
} from '../test/cache-rig.js';
import { buildSnapshot, type Docs, sha256 } from '../test/fixtures.js';
import {
  anthropicJson,
  anthropicSse,
  anthropicSseEvents,
  event,
  unterminatedAnthropicEvent,
} from '../test/mock-anthropic.js';
import { responseObject, responsesEvents, responsesJson, responsesSse } from '../test/mock-responses.js';
import { chatJson, chatSse, json, sleep } from '../test/mock-upstream.js';
import { collectingSink } from '../test/usage-sink.js';
import type { UsageSink } from '../usage/bus.js';
import type { UsageEvent } from '../usage/events.js';

let rig: CacheRig;
let openai: OpenAI;
let anthropic: Anthropic;
const logs: string[] = [];
let rev = 100;

before(async () => {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  rig = await startCacheRig({ gateway: { logger: pino({ level: 'info' }, sink) } });
  openai = new OpenAI({ apiKey: KEY_A, baseURL: `${rig.g.base}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: KEY_A, baseURL: rig.g.base, maxRetries: 0 });
});

after(() => rig.close());

type Rows = Record<string, Record<string, unknown>>;

/** Swaps in a snapshot with these guardrails, attachments and cache policies. */
function guard(guardrails: Rows, attachments: Rows = {}, policies: Policies = {}): void {
  rig.reset();
  const extra: Docs = {
    models: {
      g1: {
        display_name: 'grp',
        routing: { strategy: 'failover', targets: [{ model: 'gpt-4o-mini' }, { model: 'mock/member-b' }] },
      },
    },
    api_keys: {
      k9: { key_hash: sha256(LIMITED_KEY), allowed_models: ['*'], rate_limit: { rpm: 1 } },
      k10: { key_hash: sha256(TPM_KEY), allowed_models: ['*'], rate_limit: { tpm: 20 } },
    },
  };
  const docs: Docs = {
    ...cacheDocs(rig.up.url, rig.anth.url, policies, extra),
    guardrails,
    guardrail_attachments: attachments,
  } as Docs;
  rig.g.source.set(buildSnapshot(docs, ++rev));
}

const SECRET_WORD = 'project-nightingale';
const LIMITED_KEY = 'sk-limited-rpm-1';
/** `tpm: 20`: one answer of the mock (12 tokens) leaves room, two do not. */
const TPM_KEY = 'sk-limited-tpm-20';
const EMAIL = 'jane.doe@example.com';
const CARD = '4111111111111111';

const keyword = (extra: Record<string, unknown> = {}) => ({
  kw: {
    name: 'no-codenames',
    kind: 'keyword',
    patterns: [{ kind: 'literal', value: 'Project-Nightingale' }],
    ...extra,
  },
});
const pii = (extra: Record<string, unknown> = {}) => ({
  pii: {
    name: 'pii-mask',
    kind: 'pii',
    detectors: [
      { type: 'email', action: 'mask' },
      { type: 'bank_card', action: 'mask' },
      { type: 'us_ssn', action: 'block' },
    ],
    ...extra,
  },
});

const lastUpstreamJson = () => JSON.stringify(rig.up.requests[rig.up.requests.length - 1]?.json);

describe('input', () => {
  test('chat: a keyword blocks with 422 content_filter, the match is not echoed, no upstream call', async () => {
    guard(keyword());
    const n = rig.calls();
    const err = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `tell me about ${SECRET_WORD}` }] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError);
    assert.equal(err.status, 422);
    assert.equal((err.error as { type?: string }).type, 'content_filter');
    assert.equal(err.message.includes("request blocked by content policy (guardrail 'no-codenames')"), true);
    assert.equal(JSON.stringify(err.error).includes('nightingale'), false);
    assert.equal(rig.calls(), n);
  });

  test('messages (Anthropic SDK): block in the Anthropic envelope', async () => {
    guard(keyword());
    const err = await anthropic.messages
      .create({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: `hi ${SECRET_WORD}` }] })
      .catch((e: unknown) => e);
    assert.ok(err instanceof Anthropic.APIError);
    assert.equal(err.status, 422);
    const body = err.error as { type: string; error: { type: string; message: string } };
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.message, "request blocked by content policy (guardrail 'no-codenames')");
  });

  test('messages: plain-text documents and search results are scanned like text blocks', async () => {
    guard(keyword());
    const n = rig.calls();
    const blocks: Anthropic.ContentBlockParam[][] = [
      [
        {
          type: 'document',
          source: { type: 'text', media_type: 'text/plain', data: `memo: ${SECRET_WORD}` },
        },
      ],
      [{ type: 'document', source: { type: 'content', content: [{ type: 'text', text: SECRET_WORD }] } }],
      [
        {
          type: 'search_result',
          source: 'https://intranet.example/memo',
          title: 'memo',
          content: [{ type: 'text', text: `launch of ${SECRET_WORD}` }],
        },
      ],
    ];
    for (const content of blocks) {
      const err = await anthropic.messages
        .create({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content }] })
        .catch((e: unknown) => e);
      assert.ok(err instanceof Anthropic.APIError, `${JSON.stringify(content)}: ${String(err)}`);
      assert.equal(err.status, 422);
    }
    assert.equal(rig.calls(), n);
    // Masks are written into the document's text.
    guard(pii());
    await anthropic.messages.create({
      model: 'claude',
      max_tokens: 10,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: `mail ${EMAIL}` } },
          ],
        },
      ],
    });
    const sent = JSON.stringify(rig.anth.requests[rig.anth.requests.length - 1]?.json);
    assert.equal(sent.includes(EMAIL), false);
    assert.match(sent, /mail \[EMAIL_REDACTED\]/);
  });

  test('mask: the upstream sees tokens; tool call arguments and system prompts too', async () => {
    guard(pii());
    rig.up.handle(chatJson('fine'));
    await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: `escalate to ${EMAIL}` },
        { role: 'user', content: [{ type: 'text', text: `my card is ${CARD}` }] },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 't1', type: 'function', function: { name: 'f', arguments: `{"to":"${EMAIL}"}` } },
          ],
        },
        { role: 'tool', tool_call_id: 't1', content: 'ok' },
      ],
    });
    const seen = lastUpstreamJson();
    assert.equal(seen.includes(EMAIL), false);
    assert.equal(seen.includes(CARD), false);
    assert.match(seen, /escalate to \[EMAIL_REDACTED\]/);
    assert.match(seen, /my card is \[BANK_CARD_REDACTED\]/);
    assert.match(seen, /\{\\"to\\":\\"\[EMAIL_REDACTED\]\\"\}/);
  });

  test('responses: function call outputs given as part lists and custom tool calls are scanned', async () => {
    guard(keyword());
    const n = rig.calls();
    const inputs: OpenAI.Responses.ResponseInputItem[][] = [
      [
        {
          type: 'function_call_output',
          call_id: 'call_1',
          output: [{ type: 'input_text', text: `the file says ${SECRET_WORD}` }],
        },
      ],
      [{ type: 'custom_tool_call', call_id: 'call_2', name: 'shell', input: `grep ${SECRET_WORD}` }],
      [{ type: 'custom_tool_call_output', call_id: 'call_2', output: SECRET_WORD }],
    ];
    for (const input of inputs) {
      const err = await openai.responses.create({ model: 'gpt-4o-mini', input }).catch((e: unknown) => e);
      assert.ok(
        err instanceof OpenAI.APIError && err.status === 422,
        `${JSON.stringify(input)}: ${String(err)}`,
      );
    }
    assert.equal(rig.calls(), n);
    guard(pii());
    await openai.responses.create({
      model: 'gpt-4o-mini',
      input: [
        {
          type: 'function_call_output',
          call_id: 'call_1',
          output: [{ type: 'input_text', text: `mail ${EMAIL}` }],
        },
      ],
    });
    const sent = lastUpstreamJson();
    assert.equal(sent.includes(EMAIL), false);
    assert.match(sent, /mail \[EMAIL_REDACTED\]/);
  });

  test('a custom pattern without its own action takes default_action (block), the other masks', async () => {
    guard({
      pc: {
        name: 'pii-custom',
        kind: 'pii',
        detectors: [],
        default_action: 'block',
        custom_patterns: [
          { name: 'emp', regex: 'EMP-[0-9]{6}' },
          { name: 'ticket', regex: 'TCK-[0-9]{6}', action: 'mask' },
        ],
      },
    });
    rig.up.handle(chatJson('ok'));
    const blocked = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'employee EMP-123456' }],
    });
    assert.equal(blocked.status, 422);
    const masked = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'ticket TCK-654321' }],
    });
    assert.equal(masked.status, 200);
    assert.match(lastUpstreamJson(), /\[TICKET_REDACTED\]/);
  });

  test('a pii detector with action block blocks (us_ssn)', async () => {
    guard(pii());
    const r = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'ssn 123-45-6789' }],
    });
    assert.equal(r.status, 422);
    assert.equal(r.text.includes('123-45-6789'), false);
  });

  test('completions, embeddings and responses inputs are scanned; count_tokens is exempt', async () => {
    guard(keyword());
    for (const [path, body] of [
      ['/v1/completions', { model: 'gpt-4o-mini', prompt: [`a ${SECRET_WORD}`] }],
      ['/v1/embeddings', { model: 'emb', input: SECRET_WORD }],
      [
        '/v1/responses',
        {
          model: 'gpt-4o-mini',
          input: [{ role: 'user', content: [{ type: 'input_text', text: SECRET_WORD }] }],
        },
      ],
      ['/v1/responses', { model: 'gpt-4o-mini', instructions: SECRET_WORD, input: 'hi' }],
    ] as const) {
      const r = await post(rig.g.base, path, body);
      assert.equal(r.status, 422, `${path}: ${r.text}`);
      assert.match(r.text, /content_filter/);
    }
    rig.anth.handle((_req, res) => json(res, 200, { input_tokens: 7 }));
    const ct = await post(rig.g.base, '/v1/messages/count_tokens', {
      model: 'claude',
      messages: [{ role: 'user', content: SECRET_WORD }],
    });
    assert.notEqual(ct.status, 422, ct.text);
  });

  test('the cache keys the masked body: two prompts differing only in the masked value share an entry', async () => {
    guard(pii(), {}, { all: { name: 'all', scope: 'env' } });
    const a = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `mail ${EMAIL}` }],
    });
    const b = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'mail other.person@example.org' }],
    });
    assert.equal(cacheHeader(a), 'miss');
    assert.equal(cacheHeader(b), 'hit');
  });
});

describe('output, JSON', () => {
  test('chat: masked before the caller and before the cache stores it; the hit is masked too', async () => {
    guard(pii(), {}, { all: { name: 'all', scope: 'env' } });
    rig.up.handle(chatJson(`reach me at ${EMAIL}`));
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'contact?' }] };
    const first = await openai.chat.completions.create(body);
    assert.equal(first.choices[0]?.message.content, 'reach me at [EMAIL_REDACTED]');
    await settle();
    const { data: second, response } = await openai.chat.completions.create(body).withResponse();
    assert.equal(response.headers.get('x-aisix-cache'), 'hit');
    assert.equal(second.choices[0]?.message.content, 'reach me at [EMAIL_REDACTED]');
  });

  test('chat: an answer too deeply nested to re-encode once masked is a 502, its PII never leaks', async () => {
    guard(pii());
    // A field nested far past what JSON.stringify can write back after the mask.
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    rig.up.handle((_req, res) =>
      json(
        res,
        200,
        `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,` +
          `"message":{"role":"assistant","content":"reach me at ${EMAIL}"},"finish_reason":"stop"}],` +
          `"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12},"x":${deep}}`,
      ),
    );
    const r = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'contact?' }],
    });
    assert.equal(r.text.includes(EMAIL), false, 'the unmasked address reached the caller');
    assert.equal(r.status, 502, r.text.slice(0, 300));
    assert.equal(JSON.parse(r.text).error.type, 'upstream_decode_error');
  });

  test('chat: a keyword in the answer blocks with 422 (response ...)', async () => {
    guard(keyword());
    rig.up.handle(chatJson(`the codename is ${SECRET_WORD}`));
    const r = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'codename?' }],
    });
    assert.equal(r.status, 422);
    assert.match(r.text, /response blocked by content policy \(guardrail 'no-codenames'\)/);
    assert.equal(r.text.toLowerCase().includes('nightingale'), false);
  });

  test('chat tool calls in the answer are scanned', async () => {
    guard(pii());
    rig.up.handle((req, res) =>
      json(res, 200, {
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: String(req.json?.model),
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: [
                { id: 't', type: 'function', function: { name: 'send', arguments: `{"to":"${EMAIL}"}` } },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }),
    );
    const r = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(r.choices[0]?.message.tool_calls?.[0]?.type, 'function');
    const call = r.choices[0]?.message.tool_calls?.[0];
    assert.equal(call?.type === 'function' ? call.function.arguments : '', '{"to":"[EMAIL_REDACTED]"}');
  });

  test('Anthropic tool_use input: number values are scanned as in the serialized call (§11.3)', async () => {
    // A China mobile number as a JSON number: an OpenAI-dialect call carries it inside its
    // `arguments` string, an Anthropic one as a number leaf of `input`.
    const PHONE = 13812345678;
    guard({
      phone: { name: 'no-phones', kind: 'pii', detectors: [{ type: 'china_mobile', action: 'block' }] },
    });
    rig.anth.handle((req, res) =>
      json(res, 200, {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: String(req.json?.model),
        content: [{ type: 'tool_use', id: 'tu_1', name: 'call', input: { phone: PHONE } }],
        stop_reason: 'tool_use',
        stop_sequence: null,
        usage: { input_tokens: 1, output_tokens: 1 },
      }),
    );
    const viaChat = await openai.chat.completions
      .create({ model: 'claude', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    assert.ok(viaChat instanceof OpenAI.APIError && viaChat.status === 422, String(viaChat));
    const viaMessages = await anthropic.messages
      .create({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    assert.ok(viaMessages instanceof Anthropic.APIError, String(viaMessages));
    assert.equal(viaMessages.status, 422);
    assert.match(viaMessages.message, /response blocked by content policy \(guardrail 'no-phones'\)/);
    // Input: a number leaf is masked (it becomes the token), the other leaves stay as they were.
    guard({
      phone: { name: 'mask-phones', kind: 'pii', detectors: [{ type: 'china_mobile', action: 'mask' }] },
    });
    rig.anth.handle(anthropicJson('ok'));
    await anthropic.messages.create({
      model: 'claude',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'call me' },
        {
          role: 'assistant',
          content: [{ type: 'tool_use', id: 'tu_1', name: 'call', input: { phone: PHONE, retries: 3 } }],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu_1', content: 'done' }] },
      ],
    });
    const sent = rig.anth.requests[rig.anth.requests.length - 1]?.json as
      | { messages: { content: { input?: unknown }[] }[] }
      | undefined;
    assert.deepEqual(sent?.messages[1]?.content[0]?.input, {
      phone: '[CHINA_MOBILE_REDACTED]',
      retries: 3,
    });
  });

  test('custom tool calls in the answer are scanned: chat and Responses, JSON and streamed', async () => {
    guard(keyword());
    const messages = [{ role: 'user' as const, content: 'x' }];
    rig.up.handle((req, res) =>
      json(res, 200, {
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: String(req.json?.model),
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              tool_calls: [
                { id: 't', type: 'custom', custom: { name: 'shell', input: `echo ${SECRET_WORD}` } },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }),
    );
    const chat = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages })
      .catch((e: unknown) => e);
    assert.ok(chat instanceof OpenAI.APIError && chat.status === 422, String(chat));
    const call = {
      type: 'custom_tool_call',
      id: 'ctc_1',
      call_id: 'call_1',
      name: 'shell',
      status: 'completed',
    };
    rig.up.handle((req, res) =>
      json(res, 200, { ...responseObject(req, ''), output: [{ ...call, input: `echo ${SECRET_WORD}` }] }),
    );
    const resp = await openai.responses.create({ model: 'gpt-4o-mini', input: 'x' }).catch((e: unknown) => e);
    assert.ok(resp instanceof OpenAI.APIError && resp.status === 422, String(resp));
    // Streamed: the input arrives in fragments and is held like function-call arguments.
    rig.up.handle((req, res) => {
      const ev = (type: string, seq: number, fields: Record<string, unknown>) =>
        `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq, ...fields })}\n\n`;
      const at = { item_id: 'ctc_1', output_index: 0 };
      const input = 'echo Project-Nightingale';
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        ev('response.created', 0, { response: responseObject(req, '', 'in_progress') }) +
          ev('response.output_item.added', 1, {
            output_index: 0,
            item: { ...call, status: 'in_progress', input: '' },
          }) +
          ev('response.custom_tool_call_input.delta', 2, { ...at, delta: 'echo Project-' }) +
          ev('response.custom_tool_call_input.delta', 3, { ...at, delta: 'Nightingale' }) +
          ev('response.custom_tool_call_input.done', 4, { ...at, input }) +
          ev('response.output_item.done', 5, { output_index: 0, item: { ...call, input } }) +
          ev('response.completed', 6, {
            response: { ...responseObject(req, ''), output: [{ ...call, input }] },
          }),
      );
    });
    const raw = await post(rig.g.base, '/v1/responses', { model: 'gpt-4o-mini', input: 'x', stream: true });
    assert.equal(raw.text.includes('Project-'), false, raw.text);
    assert.match(raw.text, /^event: error\ndata: \{"type":"error","code":"content_filter"/);
  });

  test('messages and responses answers are masked in their dialect', async () => {
    guard(pii());
    rig.anth.handle(anthropicJson(`card ${CARD}`));
    const m = await anthropic.messages.create({
      model: 'claude',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.deepEqual(
      m.content.map((b) => (b.type === 'text' ? b.text : '')),
      ['card [BANK_CARD_REDACTED]'],
    );
    rig.up.handle(responsesJson(`mail ${EMAIL}`));
    const r = await openai.responses.create({ model: 'gpt-4o-mini', input: 'x' });
    assert.equal(r.output_text, 'mail [EMAIL_REDACTED]');
  });
});

describe('output, streamed (hold-back)', () => {
  // The email and the card arrive split over many chunks.
  const words = [
    'Write to ja',
    'ne.d',
    'oe@exa',
    'mple',
    '.com or pay with 4111',
    '1111',
    '11111',
    '111',
    ' today.',
  ];
  const clean = 'Write to [EMAIL_REDACTED] or pay with [BANK_CARD_REDACTED] today.';

  test('OpenAI chat stream: PII split across chunks is masked in the released stream', async () => {
    guard(pii());
    rig.up.handle(chatSse({ words }));
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, clean);
  });

  test('Anthropic stream (native upstream): masked deltas', async () => {
    guard(pii());
    rig.anth.handle(anthropicSse({ words }));
    const stream = anthropic.messages.stream({
      model: 'claude',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x' }],
    });
    const final = await stream.finalMessage();
    assert.equal(final.content.map((b) => (b.type === 'text' ? b.text : '')).join(''), clean);
  });

  test('Responses stream: masked deltas and the whole-text events', async () => {
    guard(pii());
    rig.up.handle(responsesSse(words));
    const raw = await post(rig.g.base, '/v1/responses', { model: 'gpt-4o-mini', input: 'x', stream: true });
    assert.equal(raw.text.includes('oe@exa'), false);
    assert.equal(raw.text.includes(EMAIL), false);
    const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: 'x', stream: true });
    let deltas = '';
    let done = '';
    for await (const e of stream) {
      if (e.type === 'response.output_text.delta') deltas += e.delta;
      if (e.type === 'response.completed') done = JSON.stringify(e.response.output);
    }
    assert.equal(deltas, clean);
    assert.equal(done.includes(clean), true, done);
  });

  test('a block sends only the error frame (no content leaves); the SDK raises it', async () => {
    guard(keyword());
    rig.up.handle(chatSse({ words: ['the code', 'name is pro', 'ject-nighti', 'ngale'] }));
    const raw = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    assert.equal(raw.status, 200);
    assert.equal(raw.text.includes('the code'), false);
    assert.equal(raw.text.includes('[DONE]'), false);
    assert.match(raw.text, /^event: error\ndata: .*content_filter/);
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    await assert.rejects(async () => {
      for await (const _ of stream);
    }, /response blocked by content policy \(guardrail 'no-codenames'\)/);
  });

  test('Anthropic stream block: one error event in the Anthropic shape', async () => {
    guard(keyword());
    rig.anth.handle(anthropicSse({ words: ['Project-', 'Nightingale'] }));
    const raw = await post(rig.g.base, '/v1/messages', {
      model: 'claude',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    assert.equal(raw.text.startsWith('event: error\n'), true, raw.text);
    assert.equal(raw.text.includes('content_block_delta'), false);
  });

  test('over the buffer cap: fail closed by default, fail_open releases unscanned', async () => {
    const long = Array.from({ length: 40 }, () => 'x'.repeat(10));
    guard(pii({ max_buffer_bytes: 100 }));
    rig.up.handle(chatSse({ words: long }));
    const closed = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    assert.match(closed.text, /^event: error\n/);
    assert.equal(closed.text.includes('xxxxxxxxxx'), false);
    // With another guardrail first in the chain, the frame names the one whose cap it was, and
    // the block is logged as a verdict.
    guard({ ...keyword(), ...pii({ max_buffer_bytes: 100 }) });
    rig.up.handle(chatSse({ words: long }));
    const named = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    assert.match(named.text, /response blocked by content policy \(guardrail 'pii-mask'\)/);
    const rid = named.headers.get('x-aisix-request-id');
    const verdict = logs
      .flatMap((chunk) => chunk.split('\n'))
      .filter((l) => l.includes('"guardrail verdict"') && rid !== null && l.includes(rid));
    assert.equal(verdict.length, 1);
    assert.match(verdict[0] as string, /"blocked_by":"pii-mask","reason":"buffer_exceeded"/);
    guard(pii({ max_buffer_bytes: 100, on_buffer_exceeded: 'fail_open' }));
    rig.up.handle(chatSse({ words: long }));
    const before = await metric(rig.g, 'aisix_guardrail_bypasses_total', { reason: 'buffer_exceeded' });
    const open = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    assert.equal(open.text.split('x'.repeat(10)).length - 1, 40);
    assert.ok(open.text.endsWith('data: [DONE]\n\n'));
    assert.equal(
      await metric(rig.g, 'aisix_guardrail_bypasses_total', { reason: 'buffer_exceeded' }),
      before + 1,
    );
  });

  test('an upstream event that never ends counts against the buffer cap (fail closed / fail_open)', async () => {
    // A native Anthropic stream whose text delta grows past 1 MiB without its closing blank line:
    // the held partial event is content past `max_buffer_bytes` (262144 by default), so
    // `on_buffer_exceeded` applies while the upstream is still sending, not never.
    const big = 'x'.repeat(1536 * 1024);
    const body = { model: 'claude', max_tokens: 5, messages: [{ role: 'user', content: 'x' }], stream: true };
    guard(pii());
    const closedUp = unterminatedAnthropicEvent(big);
    rig.anth.handle(closedUp.behaviour);
    const closed = await postUntil(rig.g.base, '/v1/messages', body, (t) => t.includes('event: error'));
    closedUp.release();
    assert.match(closed, /^event: error\n/);
    assert.equal(closed.includes('xxxxxxxxxx'), false);
    guard(pii({ on_buffer_exceeded: 'fail_open' }));
    const openUp = unterminatedAnthropicEvent(big);
    rig.anth.handle(openUp.behaviour);
    const open = await postUntil(rig.g.base, '/v1/messages', body, (t) => t.length > big.length);
    openUp.release();
    assert.ok(open.includes('event: message_start'), 'what was held is released');
    assert.ok(open.includes(`"text":"${'x'.repeat(1000)}`), 'the oversized event is forwarded unscanned');
    assert.ok(open.length > big.length);
  });

  test('window fields on a kind that has none are ignored: a pii stream is still held and masked', async () => {
    // Unknown root fields of a guardrail are ignored (control-plane §3.7); only the
    // text-moderation kinds stream in windows (data-plane §11.5).
    guard(pii({ stream_processing_mode: 'window', window_size: 5, window_overlap_size: 0 }));
    rig.up.handle(chatSse({ words }));
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    assert.equal(text, clean);
  });

  test('a caller gone while its stream is held received nothing: no completion tokens are billed (§6.3)', async () => {
    const sink = collectingSink();
    rig.g.gw.usage.attach(sink);
    try {
      guard(pii());
      rig.up.handle(chatSse({ words: Array.from({ length: 20 }, () => 'word '), gapMs: 30 }));
      const ac = new AbortController();
      const res = await fetch(`${rig.g.base}/v1/chat/completions`, {
        method: 'POST',
        signal: ac.signal,
        headers: { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'x' }],
          stream: true,
        }),
      });
      const id = res.headers.get('x-aisix-request-id') ?? '';
      // Several words reached the gateway and are held; none reached the caller.
      await settle(250);
      ac.abort();
      await res.text().catch(() => '');
      await waitFor(() => sink.events.some((e) => e.request_id === id));
      const e = sink.events.find((x) => x.request_id === id);
      assert.equal(e?.status_code, 499);
      assert.ok((e?.prompt_tokens ?? 0) > 0, 'the prompt side is still counted');
      assert.equal(e?.completion_tokens, 0);
      const line = logs
        .flatMap((chunk) => chunk.split('\n'))
        .find((l) => l.includes('"proxy request completed"') && l.includes(id));
      assert.match(line ?? '', /"completion_tokens":0,/);
      assert.match(line ?? '', new RegExp(`"total_tokens":${e?.prompt_tokens},`));
    } finally {
      rig.g.gw.usage.detach(sink);
    }
  });

  test('CRLF and CR framed native streams are held and scanned like LF ones (§6.2, OP-6)', async () => {
    // The upstream's bytes in small pieces, so a CRLF is also cut between its CR and its LF.
    const framed = (events: readonly string[], sep: string) => async (_req: unknown, res: ServerResponse) => {
      const text = events.join('').replaceAll('\n', sep);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < text.length; i += 7) {
        res.write(text.slice(i, i + 7));
        await sleep(1);
      }
      res.end();
    };
    for (const sep of ['\r\n', '\r']) {
      guard(pii());
      rig.anth.handle((req, res) => framed(anthropicSseEvents(req, words), sep)(req, res));
      const final = await anthropic.messages
        .stream({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
        .finalMessage();
      assert.equal(final.content.map((b) => (b.type === 'text' ? b.text : '')).join(''), clean);
      rig.up.handle((req, res) => framed(responsesEvents(req, words), sep)(req, res));
      const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: 'x', stream: true });
      let deltas = '';
      for await (const e of stream) if (e.type === 'response.output_text.delta') deltas += e.delta;
      assert.equal(deltas, clean);
      guard(keyword());
      rig.anth.handle((req, res) =>
        framed(anthropicSseEvents(req, ['the Project-', 'Nightingale plan']), sep)(req, res),
      );
      const raw = await post(rig.g.base, '/v1/messages', {
        model: 'claude',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      assert.equal(raw.text.includes('Project-'), false, JSON.stringify(sep));
      assert.match(raw.text, /^event: error\n/);
    }
  });

  test('an upstream failure mid-stream drops held content', async () => {
    guard(pii());
    rig.up.handle(chatSse({ words: ['my mail is ', EMAIL, ' and more'], dropAfter: 2 }));
    const r = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    assert.equal(r.text.includes('my mail is'), false);
    assert.equal(r.text.includes(EMAIL), false);
    assert.match(r.text, /event: error/);
  });

  test('a cached stream is stored masked and its replay is scanned', async () => {
    guard(pii(), {}, { all: { name: 'all', scope: 'env' } });
    rig.up.handle(chatSse({ words }));
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'cached stream' }],
      stream: true,
    };
    const a = await post(rig.g.base, '/v1/chat/completions', body);
    await settle();
    const b = await post(rig.g.base, '/v1/chat/completions', body);
    assert.equal(cacheHeader(b), 'hit');
    assert.equal(b.text, a.text);
    assert.equal(b.text.includes('oe@exa'), false);
  });
});

describe('modes and resolution', () => {
  test('monitor mode changes nothing and records the hit (detector names only)', async () => {
    guard(keyword({ enforcement_mode: 'monitor' }));
    rig.up.handle(chatJson('ok'));
    logs.length = 0;
    const r = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `about ${SECRET_WORD}` }],
    });
    assert.equal(r.choices[0]?.message.content, 'ok');
    assert.match(lastUpstreamJson(), /project-nightingale/);
    const line = logs.find((l) => l.includes('guardrail verdict'));
    assert.ok(line, logs.join(''));
    assert.match(line, /"verdict":"would_block"/);
    assert.equal(line.toLowerCase().includes('nightingale'), false);
    assert.ok(
      (await metric(rig.g, 'aisix_guardrail_latency_seconds_count', {
        guardrail: 'no-codenames',
        result: 'monitor',
      })) >= 1,
    );
  });

  test('attachments: only the attached key is scanned; a disabled attachment keeps the guardrail scoped', async () => {
    guard(keyword(), { a1: { guardrail_id: 'kw', scope_type: 'api_key', scope_id: 'k4', priority: 1 } });
    const msg = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: SECRET_WORD }] };
    assert.equal((await post(rig.g.base, '/v1/chat/completions', msg, { key: KEY_A })).status, 422);
    assert.equal((await post(rig.g.base, '/v1/chat/completions', msg, { key: KEY_B })).status, 200);
    guard(keyword(), { a1: { guardrail_id: 'kw', scope_type: 'env', priority: 1, enabled: false } });
    assert.equal((await post(rig.g.base, '/v1/chat/completions', msg, { key: KEY_A })).status, 200);
    guard(keyword(), { a1: { guardrail_id: 'kw', scope_type: 'model', scope_id: 'm1', priority: 0 } });
    assert.equal((await post(rig.g.base, '/v1/chat/completions', msg)).status, 422);
    assert.equal((await post(rig.g.base, '/v1/chat/completions', { ...msg, model: 'mock/x' })).status, 200);
  });

  test('chain order: priority, then specificity; the first block names its guardrail', async () => {
    const two = {
      ...keyword(),
      kw2: { name: 'second', kind: 'keyword', patterns: [{ kind: 'regex', value: '(?i)nightin' }] },
    };
    const msg = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: SECRET_WORD }] };
    guard(two, {
      a1: { guardrail_id: 'kw', scope_type: 'env', priority: 1 },
      a2: { guardrail_id: 'kw2', scope_type: 'env', priority: 5 },
    });
    assert.match((await post(rig.g.base, '/v1/chat/completions', msg)).text, /guardrail 'second'/);
    guard(two, {
      a1: { guardrail_id: 'kw', scope_type: 'api_key', scope_id: 'k4', priority: 5 },
      a2: { guardrail_id: 'kw2', scope_type: 'env', priority: 5 },
    });
    assert.match((await post(rig.g.base, '/v1/chat/completions', msg)).text, /guardrail 'no-codenames'/);
  });

  test('a disabled guardrail is bypassed; re-enabling it applies on the next request', async () => {
    const msg = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: SECRET_WORD }] };
    guard(keyword({ enabled: false }));
    assert.equal((await post(rig.g.base, '/v1/chat/completions', msg)).status, 200);
    guard(keyword());
    assert.equal((await post(rig.g.base, '/v1/chat/completions', msg)).status, 422);
  });

  test('a blocked prompt uses no rate-limit quota (guardrails run before the limits)', async () => {
    guard(keyword());
    rig.up.handle(chatJson('ok'));
    const send = (content: string) =>
      post(
        rig.g.base,
        '/v1/chat/completions',
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content }] },
        { key: LIMITED_KEY },
      );
    // The four requests must share one minute window.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5000) await new Promise((r) => setTimeout(r, left + 50));
    assert.equal((await send(SECRET_WORD)).status, 422);
    assert.equal((await send(SECRET_WORD)).status, 422);
    assert.equal((await send('clean')).status, 200);
    assert.equal((await send('clean again')).status, 429);
  });

  test('a blocked answer still costs its tokens (data-plane §9.3), on chat and messages', async () => {
    guard(keyword());
    const send = (path: string, content: string) =>
      post(
        rig.g.base,
        path,
        { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content }] },
        { key: TPM_KEY, headers: { 'x-api-key': TPM_KEY } },
      );
    for (const path of ['/v1/chat/completions', '/v1/messages']) {
      // The requests must share one minute window, and the key must start it unspent.
      const left = 60_000 - (Date.now() % 60_000);
      await new Promise((r) => setTimeout(r, left + 50));
      rig.up.handle(chatJson(`the codename is ${SECRET_WORD}`));
      assert.equal((await send(path, 'codename?')).status, 422); // 12 tokens committed
      assert.equal((await send(path, 'codename?')).status, 422); // 24 > 20
      rig.up.handle(chatJson('ok'));
      const r = await send(path, 'clean');
      assert.equal(r.status, 429, `${path}: ${r.text}`);
      assert.match(r.text, /token limit exceeded/);
    }
  });

  test('hook_point output does not scan the input', async () => {
    guard(keyword({ hook_point: 'output' }));
    rig.up.handle(chatJson('ok'));
    const msg = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: SECRET_WORD }] };
    assert.equal((await post(rig.g.base, '/v1/chat/completions', msg)).status, 200);
  });

  test('blocks are counted; no matched text in any log line', async () => {
    const before = await metric(rig.g, 'aisix_guardrail_blocks_total', {});
    guard(keyword());
    await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: SECRET_WORD }],
    });
    assert.equal(await metric(rig.g, 'aisix_guardrail_blocks_total', {}), before + 1);
    const all = logs.join('').toLowerCase();
    for (const s of ['nightingale', EMAIL, CARD, '123-45-6789']) assert.equal(all.includes(s), false, s);
  });
});

describe('group members (OP-7)', () => {
  const msg = (content: string) => ({ model: 'grp', messages: [{ role: 'user', content }] });

  test("a member's input guardrail skips that member; the next one serves", async () => {
    guard(keyword(), { a1: { guardrail_id: 'kw', scope_type: 'model', scope_id: 'm1', priority: 0 } });
    rig.up.handle(chatJson('ok'));
    const r = await post(rig.g.base, '/v1/chat/completions', msg(SECRET_WORD));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-aisix-served-by'), 'mock/member-b');
    assert.equal(rig.up.requests.at(-1)?.json?.model, 'up-member-b');
    // Named directly, the member without the attachment is not scanned either way.
    assert.equal(
      (await post(rig.g.base, '/v1/chat/completions', { ...msg(SECRET_WORD), model: 'mock/y' })).status,
      200,
    );
  });

  test("the serving member's output guardrail masks the answer; the group's own applies too", async () => {
    guard(pii({ hook_point: 'output' }), {
      a1: { guardrail_id: 'pii', scope_type: 'model', scope_id: 'm1', priority: 0 },
    });
    rig.up.handle(chatJson(`mail ${EMAIL}`));
    const r = await openai.chat.completions.create(msg('x') as OpenAI.ChatCompletionCreateParamsNonStreaming);
    assert.equal(r.choices[0]?.message.content, 'mail [EMAIL_REDACTED]');
    guard(keyword(), { a1: { guardrail_id: 'kw', scope_type: 'model', scope_id: 'g1', priority: 0 } });
    const n = rig.calls();
    const blocked = await post(rig.g.base, '/v1/chat/completions', msg(SECRET_WORD));
    assert.equal(blocked.status, 422);
    assert.equal(rig.calls(), n, 'blocked before any member was called');
  });

  test("a member's input guardrail masks that member's attempt only; the next member gets the caller's text", async () => {
    guard(pii(), { a1: { guardrail_id: 'pii', scope_type: 'model', scope_id: 'm1', priority: 0 } });
    // Served by the masking member (JSON and streamed): its upstream saw the masked prompt.
    rig.up.handle(chatJson('fine'));
    let m = rig.up.requests.length;
    const j = await post(rig.g.base, '/v1/chat/completions', msg(`mail ${EMAIL}`));
    assert.equal(j.status, 200, j.text);
    assert.equal(j.headers.get('x-aisix-served-by'), 'gpt-4o-mini');
    rig.up.handle(chatSse({ words: ['fine'] }));
    const s = await post(rig.g.base, '/v1/chat/completions', { ...msg(`mail ${EMAIL}`), stream: true });
    assert.equal(s.status, 200, s.text);
    assert.match(s.text, /fine/);
    for (const q of rig.up.requests.slice(m)) {
      const sent = JSON.stringify(q.json?.messages);
      assert.match(sent, /mail \[EMAIL_REDACTED\]/);
      assert.equal(sent.includes(EMAIL), false);
    }
    // The first member fails after seeing the masked prompt; the second (no guardrail of its
    // own) gets the caller's text. Last in this suite: the failure marks the first member down.
    rig.up.handle((req, res) =>
      req.json?.model === 'up-member-b'
        ? chatJson('ok')(req, res)
        : json(res, 500, { error: { message: 'down', type: 'server_error' } }),
    );
    m = rig.up.requests.length;
    const r = await post(rig.g.base, '/v1/chat/completions', msg(`mail ${EMAIL}`));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-aisix-served-by'), 'mock/member-b');
    const seen = rig.up.requests.slice(m).map((q) => [q.json?.model, JSON.stringify(q.json?.messages)]);
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0]?.[0], 'up-member-b');
    assert.match(String(seen[0]?.[1]), /mail \[EMAIL_REDACTED\]/);
    assert.equal(String(seen[0]?.[1]).includes(EMAIL), false);
    assert.equal(seen[1]?.[0], 'up-member-b');
    assert.match(String(seen[1]?.[1]), new RegExp(`mail ${EMAIL}`));
  });
});

describe('more stream shapes', () => {
  test('a blocked stream is not cached: the next identical request asks the upstream again', async () => {
    guard(keyword(), {}, { all: { name: 'all', scope: 'env' } });
    rig.up.handle(chatSse({ words: ['Project-', 'Nightingale'] }));
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'blocked stream' }],
      stream: true,
    };
    const n = rig.calls();
    const a = await post(rig.g.base, '/v1/chat/completions', body);
    assert.match(a.text, /^event: error/);
    await settle();
    const b = await post(rig.g.base, '/v1/chat/completions', body);
    assert.equal(cacheHeader(b), 'miss');
    assert.equal(rig.calls() - n, 2);
  });

  test('Responses stream block: one error event with code content_filter', async () => {
    guard(keyword());
    rig.up.handle(responsesSse(['the codename: Project-', 'Nightingale']));
    const raw = await post(rig.g.base, '/v1/responses', { model: 'gpt-4o-mini', input: 'x', stream: true });
    assert.equal(raw.text.includes('response.output_text.delta'), false);
    assert.match(raw.text, /^event: error\ndata: \{"type":"error","code":"content_filter"/);
  });

  test('legacy function_call arguments are scanned in a stream as in a JSON answer', async () => {
    guard(keyword());
    const functions = [{ name: 'lookup', parameters: { type: 'object', properties: {} } }];
    const messages = [{ role: 'user' as const, content: 'x' }];
    // JSON: the answer's function_call arguments are output (data-plane §11.3: tool calls).
    rig.up.handle((_req, res) =>
      json(res, 200, {
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              function_call: { name: 'lookup', arguments: `{"q":"${SECRET_WORD}"}` },
            },
            finish_reason: 'function_call',
          },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }),
    );
    const err = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages, functions })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError && err.status === 422, String(err));
    // The same arguments streamed in fragments are held and blocked too.
    rig.up.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const c = (delta: object, finish: string | null = null) =>
        `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.end(
        c({ role: 'assistant', content: null, function_call: { name: 'lookup', arguments: '' } }) +
          c({ function_call: { arguments: '{"q":"project-night' } }) +
          c({ function_call: { arguments: 'ingale"}' } }) +
          c({}, 'function_call') +
          'data: [DONE]\n\n',
      );
    });
    const raw = await post(rig.g.base, '/v1/chat/completions', {
      model: 'gpt-4o-mini',
      messages,
      functions,
      stream: true,
    });
    assert.equal(raw.text.includes('project-night'), false, raw.text);
    assert.match(raw.text, /^event: error\ndata: .*content_filter/);
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages,
      functions,
      stream: true,
    });
    await assert.rejects(async () => {
      for await (const _ of stream);
    }, /response blocked by content policy \(guardrail 'no-codenames'\)/);
  });

  test('Anthropic streamed tool_use: PII in input_json_delta fragments is masked', async () => {
    guard(pii());
    rig.anth.handle((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const frags = ['{"to":"jane.d', 'oe@exam', 'ple.com"}'];
      res.end(
        [
          event('message_start', {
            type: 'message_start',
            message: {
              id: 'm',
              type: 'message',
              role: 'assistant',
              content: [],
              model: 'claude',
              stop_reason: null,
              stop_sequence: null,
              usage: { input_tokens: 1, output_tokens: 1 },
            },
          }),
          event('content_block_start', {
            type: 'content_block_start',
            index: 0,
            content_block: { type: 'tool_use', id: 't1', name: 'send', input: {} },
          }),
          ...frags.map((f) =>
            event('content_block_delta', {
              type: 'content_block_delta',
              index: 0,
              delta: { type: 'input_json_delta', partial_json: f },
            }),
          ),
          event('content_block_stop', { type: 'content_block_stop', index: 0 }),
          event('message_delta', {
            type: 'message_delta',
            delta: { stop_reason: 'tool_use', stop_sequence: null },
            usage: { output_tokens: 5 },
          }),
          event('message_stop', { type: 'message_stop' }),
        ].join(''),
      );
    });
    const final = await anthropic.messages
      .stream({ model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] })
      .finalMessage();
    const block = final.content[0];
    assert.equal(block?.type, 'tool_use');
    assert.deepEqual(block?.type === 'tool_use' ? block.input : undefined, { to: '[EMAIL_REDACTED]' });
  });

  test('monitor mode does not hold a stream back: content arrives while the answer streams', async () => {
    guard(pii({ enforcement_mode: 'monitor' }));
    rig.up.handle(
      chatSse({ words: [`mail ${EMAIL}`, ...Array.from({ length: 8 }, () => ' more')], gapMs: 60 }),
    );
    const t0 = performance.now();
    const stream = await openai.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      stream: true,
    });
    let first = -1;
    let text = '';
    for await (const c of stream) {
      const d = c.choices[0]?.delta.content ?? '';
      if (d !== '' && first < 0) first = performance.now() - t0;
      text += d;
    }
    const total = performance.now() - t0;
    assert.ok(text.startsWith(`mail ${EMAIL}`), 'nothing masked');
    assert.ok(first < total - 250, `first content ${first} ms of ${total} ms`);
  });
});

describe('usage events', () => {
  test('carry the kinds and hooks that ran, detector counts, monitor hits and blocks; never what matched', async () => {
    const events: UsageEvent[] = [];
    const sink: UsageSink = {
      name: 'guardrails-test',
      offer(es) {
        events.push(...es);
        return 0;
      },
    };
    rig.g.gw.usage.attach(sink);
    try {
      guard({ ...pii(), ...keyword({ enforcement_mode: 'monitor' }) });
      rig.up.handle(chatJson(`write to ${EMAIL}`));
      const masked = await openai.chat.completions
        .create({
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: `mail ${EMAIL} or ${EMAIL}, about ${SECRET_WORD}` }],
        })
        .withResponse();
      const maskedId = masked.response.headers.get('x-aisix-request-id') ?? '';
      const blocked = await openai.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ssn 123-45-6789' }] })
        .withResponse()
        .catch((e: unknown) => e);
      assert.ok(blocked instanceof OpenAI.APIError && blocked.status === 422);
      const blockedId = blocked.headers?.get('x-aisix-request-id') ?? '';
      await waitFor(
        () => events.some((e) => e.request_id === blockedId) && events.some((e) => e.request_id === maskedId),
      );
      const m = events.find((e) => e.request_id === maskedId);
      assert.ok(m);
      assert.equal(m.guardrail_blocked, false);
      assert.deepEqual(
        [...m.applied_guardrails].sort((a, b) => `${a.kind}${a.hook}`.localeCompare(`${b.kind}${b.hook}`)),
        [
          { kind: 'keyword', hook: 'input' },
          { kind: 'keyword', hook: 'output' },
          { kind: 'pii', hook: 'input' },
          { kind: 'pii', hook: 'output' },
        ],
      );
      // Two emails in the prompt, one in the answer.
      assert.deepEqual(m.redacted_entity_counts, { email: 3 });
      assert.deepEqual(m.guardrail_monitor_hits, ['no-codenames:keyword:would_block']);
      const b = events.find((e) => e.request_id === blockedId);
      assert.equal(b?.guardrail_blocked, true);
      assert.equal(b?.error_class, 'content_filter');

      // A stream whose answer is blocked after the 200: the same error class as the JSON block.
      guard(keyword());
      rig.up.handle(chatSse({ words: ['the code', 'name is pro', 'ject-nighti', 'ngale'] }));
      const streamed = await post(rig.g.base, '/v1/chat/completions', {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      assert.match(streamed.text, /^event: error/);
      const streamedId = streamed.headers.get('x-aisix-request-id') ?? '';
      await waitFor(() => events.some((e) => e.request_id === streamedId));
      const sb = events.find((e) => e.request_id === streamedId);
      assert.equal(sb?.guardrail_blocked, true);
      assert.equal(sb?.status_code, 200);
      assert.equal(sb?.error_class, 'content_filter');
      assert.match(sb?.error_message ?? '', /response blocked by content policy/);
      const text = JSON.stringify(events);
      for (const secret of [EMAIL, SECRET_WORD, '123-45-6789'])
        assert.equal(text.includes(secret), false, secret);
    } finally {
      rig.g.gw.usage.detach(sink);
    }
  });

  test('a stream released unscanned past the buffer cap (fail_open) names the bypass on its event (§12.3)', async () => {
    const sink = collectingSink();
    const events = sink.events;
    rig.g.gw.usage.attach(sink);
    try {
      guard(pii({ max_buffer_bytes: 100, on_buffer_exceeded: 'fail_open' }));
      rig.up.handle(chatSse({ words: Array.from({ length: 40 }, () => 'x'.repeat(10)) }));
      const open = await post(rig.g.base, '/v1/chat/completions', {
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
      });
      assert.ok(open.text.endsWith('data: [DONE]\n\n'));
      const id = open.headers.get('x-aisix-request-id') ?? '';
      await waitFor(() => events.some((e) => e.request_id === id));
      const e = events.find((x) => x.request_id === id);
      assert.equal(e?.guardrail_blocked, false);
      assert.equal(e?.guardrail_bypassed_reason, 'buffer_exceeded');
    } finally {
      rig.g.gw.usage.detach(sink);
    }
  });
});

describe('monitor-only streams keep at most the buffer cap', () => {
  const filler = Array.from({ length: 40 }, () => 'x'.repeat(10));
  /** Streams `words`, returns the text the caller got and the request's usage event. */
  async function monitored(words: string[]): Promise<{ text: string; event: UsageEvent | undefined }> {
    const sink = collectingSink();
    rig.g.gw.usage.attach(sink);
    try {
      rig.up.handle(chatSse({ words }));
      const stream = await openai.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], stream: true })
        .withResponse();
      let text = '';
      for await (const c of stream.data) text += c.choices[0]?.delta.content ?? '';
      const id = stream.response.headers.get('x-aisix-request-id') ?? '';
      await waitFor(() => sink.events.some((e) => e.request_id === id));
      return { text, event: sink.events.find((e) => e.request_id === id) };
    } finally {
      rig.g.gw.usage.detach(sink);
    }
  }

  test('within the cap the whole stream is scanned at its end', async () => {
    guard(pii({ enforcement_mode: 'monitor', max_buffer_bytes: 100 }));
    const r = await monitored(['mail ', EMAIL]);
    assert.equal(r.text, `mail ${EMAIL}`);
    assert.deepEqual(r.event?.guardrail_monitor_hits, ['pii-mask:email:would_mask']);
  });

  test('past the cap (on_buffer_exceeded fail_closed): forwarded untouched, recorded as a would-be block, the rest not scanned', async () => {
    guard(pii({ enforcement_mode: 'monitor', max_buffer_bytes: 100 }));
    const r = await monitored([...filler, ` ${EMAIL}`]);
    // Monitor mode never changes the answer (data-plane §11.4).
    assert.equal(r.text, `${filler.join('')} ${EMAIL}`);
    assert.equal(r.event?.guardrail_blocked, false);
    // An enforcing guardrail would have failed closed here, without scanning (data-plane §11.5).
    assert.deepEqual(r.event?.guardrail_monitor_hits, ['pii-mask:buffer_exceeded:would_block']);
    assert.equal(r.event?.guardrail_bypassed_reason, null);
  });

  test('past the cap (on_buffer_exceeded fail_open): forwarded untouched, counted as a buffer_exceeded bypass', async () => {
    guard(pii({ enforcement_mode: 'monitor', max_buffer_bytes: 100, on_buffer_exceeded: 'fail_open' }));
    const bypasses = async () => {
      const text = await (await fetch(`http://127.0.0.1:${rig.g.gw.metricsPort}/metrics`)).text();
      const m = /^aisix_guardrail_bypasses_total\{reason="buffer_exceeded"\} (\d+)$/m.exec(text);
      return m ? Number(m[1]) : 0;
    };
    const before = await bypasses();
    const r = await monitored([...filler, ` ${EMAIL}`]);
    assert.equal(r.text, `${filler.join('')} ${EMAIL}`);
    assert.deepEqual(r.event?.guardrail_monitor_hits, []);
    assert.equal(r.event?.guardrail_bypassed_reason, 'buffer_exceeded');
    assert.equal(await bypasses(), before + 1);
  });
});

async function waitFor(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!ok()) {
    assert.ok(Date.now() < deadline, 'timed out waiting for usage events');
    await new Promise((r) => setTimeout(r, 10));
  }
}
