/**
 * Local token estimation: the OpenAI cookbook's own worked example pins the message scheme
 * (129 prompt tokens with cl100k_base for gpt-4 / gpt-3.5, 124 with o200k_base for gpt-4o),
 * zero counters only are filled, output text is read from JSON answers and from the SSE deltas
 * of each dialect, and long texts are counted in slices that leave the event loop free.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Usage } from '@aisix/providers';
import {
  encodingFor,
  estimateUsage,
  MAX_SCAN_CHARS,
  needsEstimate,
  preloadTokenizer,
  promptParts,
  sseOutputText,
} from './estimate.js';

// OpenAI cookbook, "How to count tokens with tiktoken", `example_messages`.
const COOKBOOK = [
  {
    role: 'system',
    content:
      'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.',
  },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  {
    role: 'system',
    name: 'example_assistant',
    content: 'Things working well together will increase revenue.',
  },
  {
    role: 'system',
    name: 'example_user',
    content:
      "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
  },
  {
    role: 'system',
    name: 'example_assistant',
    content: "Let's talk later when we're less busy about how to do better.",
  },
  {
    role: 'user',
    content: "This late pivot means we don't have time to boil the ocean for the client deliverable.",
  },
];

const none = { json: undefined, sse: undefined, sseDroppedChars: 0 } as const;

function usage(p: number, c: number): Usage {
  return {
    prompt_tokens: p,
    completion_tokens: c,
    total_tokens: p + c,
    cached_prompt_tokens: 0,
    reasoning_tokens: 0,
    cache_creation_tokens: 0,
    cache_read_tokens: 0,
  };
}

test('while the encoding loads, a finishing request is counted at once (about 4 characters per token)', async () => {
  // First test of the file: no encoding is loaded in this process yet.
  const body = { messages: [{ role: 'user', content: 'hello world, hello' }] };
  const input = { model: 'gpt-4', body, generates: false, ...none };
  const rough = await estimateUsage(undefined, input, true);
  // 3 + 3 fixed; "user" 1; "hello world, hello" (18 chars) 5.
  assert.equal(rough.usage.prompt_tokens, 12);
  await preloadTokenizer('gpt-4');
  const exact = await estimateUsage(undefined, input, true);
  assert.equal(exact.usage.prompt_tokens, 3 + 3 + 1 + 4);
});

test('encodings: o200k_base for gpt-4o, gpt-4.1+, gpt-5 and o-series; cl100k_base otherwise', () => {
  for (const m of ['gpt-4o', 'gpt-4o-mini', 'openai/gpt-4.1', 'gpt-5-mini', 'o1', 'o3-mini', 'o4-mini'])
    assert.equal(encodingFor(m), 'o200k_base', m);
  for (const m of ['gpt-4', 'gpt-3.5-turbo', 'claude-sonnet-4', 'gemini-2.5-pro', 'llama-3', undefined])
    assert.equal(encodingFor(m), 'cl100k_base', String(m));
});

test('the cookbook example: 129 prompt tokens (cl100k_base), 124 (o200k_base)', async () => {
  const body = { model: 'x', messages: COOKBOOK };
  const a = await estimateUsage(undefined, { model: 'gpt-4', body, generates: false, ...none });
  assert.equal(a.usage.prompt_tokens, 129);
  assert.equal(a.estimated, true);
  const b = await estimateUsage(undefined, { model: 'gpt-4o', body, generates: false, ...none });
  assert.equal(b.usage.prompt_tokens, 124);
});

test('only zero counters are filled; the total follows the parts', async () => {
  const body = { messages: [{ role: 'user', content: 'hello' }] };
  const json = JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'Hello!' } }] });
  const r = await estimateUsage(usage(50, 0), {
    model: 'gpt-4',
    body,
    generates: true,
    json,
    sse: undefined,
    sseDroppedChars: 0,
  });
  assert.deepEqual([r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens], [50, 2, 52]);
  assert.equal(needsEstimate(usage(5, 7), true), false);
  assert.equal(needsEstimate(usage(5, 0), false), false, 'embeddings generate nothing');
  assert.equal(needsEstimate(usage(5, 0), true), true);
  const whole = await estimateUsage(usage(3, 4), {
    model: 'gpt-4',
    body,
    generates: true,
    json,
    sse: undefined,
    sseDroppedChars: 0,
  });
  assert.equal(whole.estimated, false);
  assert.deepEqual(whole.usage, usage(3, 4));
});

test('images cost 85 tokens at low detail and 250 otherwise; tools +9, -4 with a system message', () => {
  const img = (detail?: string) =>
    promptParts({
      messages: [
        {
          role: 'user',
          content: [{ type: 'image_url', image_url: { url: 'data:', ...(detail ? { detail } : {}) } }],
        },
      ],
    }).fixed;
  assert.equal(img('low') - img('high'), 85 - 250);
  assert.equal(img(), img('high'));
  const tools = [{ type: 'function', function: { name: 'f', parameters: {} } }];
  const noSys = promptParts({ messages: [{ role: 'user', content: 'x' }], tools }).fixed;
  const base = promptParts({ messages: [{ role: 'user', content: 'x' }] }).fixed;
  assert.equal(noSys - base, 9);
  const sys = promptParts({
    messages: [
      { role: 'system', content: 's' },
      { role: 'user', content: 'x' },
    ],
    tools,
  }).fixed;
  const sysBase = promptParts({
    messages: [
      { role: 'system', content: 's' },
      { role: 'user', content: 'x' },
    ],
  }).fixed;
  assert.equal(sys - sysBase, 5);
});

test('streamed output: the deltas of each dialect, summaries not counted twice', () => {
  const sse = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
  const chat = [
    sse({ choices: [{ delta: { role: 'assistant', content: '' } }] }),
    sse({ choices: [{ delta: { content: 'Hel' } }] }).slice(0, 20),
    sse({ choices: [{ delta: { content: 'Hel' } }] }).slice(20),
    sse({ choices: [{ delta: { content: 'lo' } }] }),
    'data: [DONE]\n\n',
  ];
  assert.equal(sseOutputText(chat), 'Hello');
  const anthropic = [
    `event: message_start\n${sse({ type: 'message_start', message: { content: [], usage: { input_tokens: 0 } } })}`,
    sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } }),
    sse({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' there' } }),
    sse({ type: 'message_delta', delta: { stop_reason: 'end_turn' } }),
  ];
  assert.equal(sseOutputText(anthropic), 'Hi there');
  const responses = [
    sse({ type: 'response.created', response: { instructions: 'be brief', output: [] } }),
    sse({ type: 'response.output_text.delta', delta: 'Yo' }),
    sse({ type: 'response.output_text.done', text: 'Yo' }),
    sse({ type: 'response.completed', response: { output: [{ content: [{ text: 'Yo' }] }] } }),
  ];
  assert.equal(sseOutputText(responses), 'Yo');
});

test('long text: counted in slices that yield to the event loop, past the cap extrapolated', async () => {
  const body = (n: number) => ({ input: 'hello world '.repeat(n) });
  const one = await estimateUsage(undefined, {
    model: 'gpt-4',
    body: body(MAX_SCAN_CHARS / 12),
    generates: false,
    ...none,
  });
  let turns = 0;
  let on = true;
  const spin = () => {
    turns++;
    if (on) setImmediate(spin);
  };
  setImmediate(spin);
  const three = await estimateUsage(undefined, {
    model: 'gpt-4',
    body: body((3 * MAX_SCAN_CHARS) / 12),
    generates: false,
    ...none,
  });
  on = false;
  assert.ok(turns >= 16, `event loop turns while counting: ${turns}`);
  const ratio = three.usage.prompt_tokens / one.usage.prompt_tokens;
  assert.ok(Math.abs(ratio - 3) < 0.01, `3 MiB counts as 3x 1 MiB (got ${ratio})`);
});
