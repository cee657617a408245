import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toGeminiRequest } from './request.js';
import type { GeminiRequest } from './wire.js';

function ok(body: Record<string, unknown>, model?: string): GeminiRequest {
  const r = toGeminiRequest(body, model);
  if (!r.ok) assert.fail(r.message);
  return r.request;
}

function refused(body: Record<string, unknown>): string {
  const r = toGeminiRequest(body);
  assert.equal(r.ok, false);
  return r.ok ? '' : r.message;
}

test('system and developer messages join into systemInstruction with a blank line', () => {
  const r = ok({
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
      { role: 'user', content: 'Hi' },
    ],
  });
  assert.deepEqual(r.systemInstruction, { parts: [{ text: 'Be brief.\n\nAnswer in French.' }] });
  assert.deepEqual(r.contents, [{ role: 'user', parts: [{ text: 'Hi' }] }]);
  assert.equal(r.generationConfig, undefined);
});

test('multi-turn: assistant → model, consecutive same-role turns merge', () => {
  const r = ok({
    messages: [
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: 'c' },
      { role: 'user', content: 'd' },
    ],
  });
  assert.deepEqual(r.contents, [
    { role: 'user', parts: [{ text: 'a' }, { text: 'b' }] },
    { role: 'model', parts: [{ text: 'c' }] },
    { role: 'user', parts: [{ text: 'd' }] },
  ]);
});

test('tools, tool_choice, assistant tool_calls and tool results round-trip to Gemini parts', () => {
  const r = ok({
    messages: [
      { role: 'user', content: 'weather and time in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
          },
          { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      { role: 'tool', tool_call_id: 'call_2', content: '14:00' },
    ],
    tools: [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather by city',
          parameters: {
            $schema: 'http://json-schema.org/draft-07/schema#',
            type: 'object',
            properties: { city: { type: 'string', enum: ['Paris', 'Rome'] } },
            required: ['city'],
            additionalProperties: false,
          },
        },
      },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ],
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    parallel_tool_calls: true,
  });
  assert.deepEqual(r.contents, [
    { role: 'user', parts: [{ text: 'weather and time in Paris?' }] },
    {
      role: 'model',
      parts: [
        { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
        { functionCall: { name: 'get_time', args: {} } },
      ],
    },
    {
      role: 'user',
      parts: [
        { functionResponse: { name: 'get_weather', response: { temp: 21 } } },
        { functionResponse: { name: 'get_time', response: { content: '14:00' } } },
      ],
    },
  ]);
  assert.deepEqual(r.tools, [
    {
      functionDeclarations: [
        {
          name: 'get_weather',
          description: 'Weather by city',
          parameters: {
            type: 'object',
            properties: { city: { type: 'string', enum: ['Paris', 'Rome'] } },
            required: ['city'],
          },
        },
        { name: 'get_time' },
      ],
    },
  ]);
  assert.deepEqual(r.toolConfig, {
    functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] },
  });
});

test('tool_choice strings map to AUTO / NONE / ANY', () => {
  const base = { messages: [{ role: 'user', content: 'x' }] };
  assert.equal(ok({ ...base, tool_choice: 'auto' }).toolConfig?.functionCallingConfig.mode, 'AUTO');
  assert.equal(ok({ ...base, tool_choice: 'none' }).toolConfig?.functionCallingConfig.mode, 'NONE');
  assert.equal(ok({ ...base, tool_choice: 'required' }).toolConfig?.functionCallingConfig.mode, 'ANY');
});

test('image parts reach Gemini: data URLs inline, remote URLs as fileData, order kept (OP-4)', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]).toString('base64');
  const r = ok({
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'compare' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png}`, detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.JPG?size=large' } },
          { type: 'image_url', image_url: { url: 'gs://bucket/doc' } },
          { type: 'input_audio', input_audio: { data: 'AAAA', format: 'mp3' } },
          { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=' } },
        ],
      },
    ],
  });
  assert.deepEqual(r.contents[0]?.parts, [
    { text: 'compare' },
    { inlineData: { mimeType: 'image/png', data: png } },
    { fileData: { fileUri: 'https://example.com/cat.JPG?size=large', mimeType: 'image/jpeg' } },
    { fileData: { fileUri: 'gs://bucket/doc' } },
    { inlineData: { mimeType: 'audio/mpeg', data: 'AAAA' } },
    { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
  ]);
});

test('JSON mode, stop, max tokens, temperature, top_p and friends go under generationConfig', () => {
  const schema = { type: 'object', properties: { a: { type: 'number' } }, additionalProperties: false };
  const r = ok({
    messages: [{ role: 'user', content: 'x' }],
    temperature: 0.3,
    top_p: 0.9,
    max_tokens: 50,
    max_completion_tokens: 64,
    stop: 'END',
    n: 2,
    seed: 7,
    presence_penalty: 0.1,
    frequency_penalty: 0.2,
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema, strict: true } },
    stream_options: { include_usage: true },
    user: 'u-1',
  });
  assert.deepEqual(r.generationConfig, {
    temperature: 0.3,
    topP: 0.9,
    maxOutputTokens: 64,
    candidateCount: 2,
    presencePenalty: 0.1,
    frequencyPenalty: 0.2,
    seed: 7,
    stopSequences: ['END'],
    responseMimeType: 'application/json',
    responseSchema: { type: 'object', properties: { a: { type: 'number' } } },
  });
  const j = ok({
    messages: [{ role: 'user', content: 'x' }],
    response_format: { type: 'json_object' },
    stop: ['a', 'b'],
  });
  assert.deepEqual(j.generationConfig, { stopSequences: ['a', 'b'], responseMimeType: 'application/json' });
  assert.equal(
    ok({ messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }).generationConfig?.maxOutputTokens,
    5,
  );
});

test('what cannot translate is refused, not dropped', () => {
  assert.match(refused({ messages: 'hi' }), /messages must be an array/);
  assert.match(
    refused({ messages: [{ role: 'user', content: [{ type: 'refusal', refusal: 'x' }] }] }),
    /unsupported content part type "refusal"/,
  );
  assert.match(
    refused({ messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }] }),
    /does not match an earlier assistant tool call/,
  );
  assert.match(
    refused({
      messages: [
        {
          role: 'assistant',
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }],
        },
      ],
    }),
    /JSON object/,
  );
  assert.match(
    refused({ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search' }] }),
    /only function tools/,
  );
  assert.match(
    refused({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }],
    }),
    /data:, http/,
  );
});

test("an assistant tool call's extra_content.google.thought_signature goes back as the part's thoughtSignature", () => {
  const call = (id: string, extra?: unknown) => ({
    id,
    type: 'function',
    function: { name: 'f', arguments: '{}' },
    ...(extra === undefined ? {} : { extra_content: extra }),
  });
  const history = (calls: unknown[]) => ({
    messages: [
      { role: 'user', content: 'x' },
      { role: 'assistant', content: null, tool_calls: calls },
    ],
  });
  assert.deepEqual(
    ok(history([call('a', { google: { thought_signature: 'sig-A' } }), call('b')])).contents[1],
    {
      role: 'model',
      parts: [
        { functionCall: { name: 'f', args: {} }, thoughtSignature: 'sig-A' },
        { functionCall: { name: 'f', args: {} } },
      ],
    },
  );
  // Other vendors' extra_content, and empty values, add nothing.
  for (const extra of [{ other: { x: 1 } }, { google: {} }, { google: { thought_signature: '' } }, null]) {
    assert.deepEqual(ok(history([call('a', extra)])).contents[1]?.parts, [
      { functionCall: { name: 'f', args: {} } },
    ]);
  }
  // A signature of the wrong type is refused, not dropped.
  assert.match(refused(history([call('a', 'sig')])), /extra_content must be an object/);
  assert.match(refused(history([call('a', { google: 'sig' })])), /extra_content.google must be an object/);
  assert.match(
    refused(history([call('a', { google: { thought_signature: 42 } })])),
    /thought_signature must be a string/,
  );
});

test("reasoning_effort → thinkingConfig by model family, as Google's OpenAI-compatible endpoint maps it", () => {
  const base = { messages: [{ role: 'user', content: 'x' }] };
  const thinking = (effort: string, model: string) =>
    ok({ ...base, reasoning_effort: effort }, model).generationConfig?.thinkingConfig;
  assert.deepEqual(thinking('low', 'gemini-2.5-flash'), { thinkingBudget: 1024 });
  assert.deepEqual(thinking('minimal', 'gemini-2.5-pro'), { thinkingBudget: 1024 });
  assert.deepEqual(thinking('medium', 'gemini-2.5-flash-lite'), { thinkingBudget: 8192 });
  assert.deepEqual(thinking('high', 'gemini-2.5-pro'), { thinkingBudget: 24576 });
  assert.deepEqual(thinking('none', 'gemini-2.5-flash'), { thinkingBudget: 0 });
  assert.deepEqual(thinking('low', 'gemini-3-pro-preview'), { thinkingLevel: 'low' });
  assert.deepEqual(thinking('medium', 'gemini-3-flash-preview'), { thinkingLevel: 'high' });
  assert.deepEqual(thinking('high', 'publishers/google/models/gemini-3-pro'), { thinkingLevel: 'high' });
  // Models without thinking refuse a thinking config: the effort is dropped, as before.
  assert.equal(thinking('high', 'gemini-2.0-flash'), undefined);
  assert.equal(thinking('high', 'gemini-1.5-pro'), undefined);
  assert.equal(thinking('turbo', 'gemini-2.5-pro'), undefined);
  assert.equal(ok(base, 'gemini-2.5-pro').generationConfig, undefined);
});

test('extra_body.google.thinking_config goes to generationConfig.thinkingConfig, and wins over reasoning_effort', () => {
  const body = {
    messages: [{ role: 'user', content: 'x' }],
    reasoning_effort: 'high',
    extra_body: { google: { thinking_config: { thinking_budget: 800, include_thoughts: true } } },
  };
  assert.deepEqual(ok(body, 'gemini-2.5-flash').generationConfig?.thinkingConfig, {
    thinkingBudget: 800,
    includeThoughts: true,
  });
  const level = { ...body, extra_body: { google: { thinking_config: { thinking_level: 'medium' } } } };
  assert.deepEqual(ok(level, 'gemini-3-flash').generationConfig?.thinkingConfig, { thinkingLevel: 'medium' });
  const bad = (tc: unknown) => refused({ ...body, extra_body: { google: { thinking_config: tc } } });
  assert.match(bad('high'), /thinking_config must be an object/);
  assert.match(bad({ thinking_budget: '800' }), /thinking_budget must be an integer/);
  assert.match(bad({ thinking_level: 3 }), /thinking_level must be a string/);
  assert.match(bad({ include_thoughts: 'yes' }), /include_thoughts must be a boolean/);
});

test('the caller body is not mutated', () => {
  const body = { messages: [{ role: 'user', content: 'x' }], temperature: 1 };
  const before = JSON.stringify(body);
  ok(body);
  assert.equal(JSON.stringify(body), before);
});
