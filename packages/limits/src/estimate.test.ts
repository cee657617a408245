/**
 * estimateTokens: what counts toward the prompt estimate (text content, system, instructions,
 * input, prompt, tool calls and definitions; not images), UTF-8 bytes / 4, the declared
 * completion budget, embeddings without completion, token-id inputs, and the 1 MiB scan cap.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { estimateTokens } from './estimate.js';

const text = (n: number) => 'a'.repeat(n);

describe('estimateTokens', () => {
  it('chat: content strings / 4 plus max_tokens (max_completion_tokens preferred)', () => {
    const body = { model: 'x', messages: [{ role: 'user', content: text(400) }], max_tokens: 50 };
    assert.equal(estimateTokens('chat', body), 150);
    assert.equal(estimateTokens('chat', { ...body, max_completion_tokens: 70 }), 170);
    assert.equal(estimateTokens('chat', { messages: body.messages }), 100, 'no budget declared: prompt only');
  });

  it('counts text parts, tool calls and names; not images', () => {
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: text(40) },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${text(100_000)}` } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ function: { name: text(4), arguments: text(36) } }],
        },
        { role: 'tool', name: text(4), content: text(16) },
      ],
    };
    assert.equal(estimateTokens('chat', body), 25);
  });

  it('UTF-8 bytes, rounded up', () => {
    assert.equal(estimateTokens('chat', { messages: [{ role: 'user', content: '€€€€' }] }), 3);
    assert.equal(estimateTokens('chat', { messages: [{ role: 'user', content: 'a' }] }), 1);
  });

  it('messages API: system (string or blocks), content blocks, tool_use input, max_tokens', () => {
    const body = {
      system: [{ type: 'text', text: text(40) }],
      messages: [
        { role: 'user', content: [{ type: 'tool_result', content: [{ type: 'text', text: text(20) }] }] },
        { role: 'assistant', content: [{ type: 'tool_use', input: { q: text(19) } }] },
      ],
      max_tokens: 100,
    };
    assert.equal(estimateTokens('messages', body), 10 + 5 + 5 + 100);
  });

  it('responses: instructions, input string or items, max_output_tokens', () => {
    assert.equal(
      estimateTokens('responses', { instructions: text(8), input: text(8), max_output_tokens: 5 }),
      9,
    );
    const items = { input: [{ role: 'user', content: [{ type: 'input_text', text: text(12) }] }] };
    assert.equal(estimateTokens('responses', items), 3);
  });

  it('embeddings: input strings or token ids, never a completion part', () => {
    assert.equal(estimateTokens('embeddings', { input: [text(8), text(8)], max_tokens: 99 }), 4);
    assert.equal(estimateTokens('embeddings', { input: [1, 2, 3] }), 3);
    assert.equal(estimateTokens('embeddings', { input: [[1, 2], [3]] }), 3);
    assert.equal(estimateTokens('completions', { prompt: text(20), max_tokens: 1 }), 6);
  });

  it('tool definitions count', () => {
    const tools = [
      { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } },
    ];
    assert.ok(estimateTokens('chat', { messages: [], tools }) > 5);
  });

  it('stops scanning after 1 MiB of text, fast', () => {
    const huge = text(8 * 1024 * 1024);
    const t0 = performance.now();
    const n = estimateTokens('chat', {
      messages: Array.from({ length: 20 }, () => ({ role: 'user', content: huge })),
      max_tokens: 10,
    });
    assert.equal(n, 262_144 + 10);
    assert.ok(performance.now() - t0 < 100);
  });

  it('a typical chat body costs about a microsecond', () => {
    const body = {
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Summarize the following text in two sentences: '.repeat(10) },
      ],
      max_tokens: 256,
    };
    for (let i = 0; i < 10_000; i++) estimateTokens('chat', body);
    const t0 = performance.now();
    for (let i = 0; i < 100_000; i++) estimateTokens('chat', body);
    const us = ((performance.now() - t0) * 1000) / 100_000;
    console.log(`# estimateTokens (typical chat body): ${us.toFixed(2)} µs`);
    assert.ok(us < 20);
  });
});
