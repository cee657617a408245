import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  googleAiEmbeddingBody,
  readEmbeddingInput,
  transformGoogleEmbeddings,
  vertexEmbeddingBody,
} from './embeddings.js';

function input(body: Record<string, unknown>) {
  const e = readEmbeddingInput(body);
  if (!e.ok) assert.fail(e.message);
  return e;
}

test('request bodies: embedContent for one text, batch for several, Vertex instances', () => {
  assert.deepEqual(
    googleAiEmbeddingBody('models/text-embedding-004', input({ input: 'hi', dimensions: 8 })),
    {
      method: 'embedContent',
      body: {
        model: 'models/text-embedding-004',
        content: { parts: [{ text: 'hi' }] },
        outputDimensionality: 8,
      },
    },
  );
  assert.deepEqual(googleAiEmbeddingBody('models/m', input({ input: ['a', 'b'] })), {
    method: 'batchEmbedContents',
    body: {
      requests: [
        { model: 'models/m', content: { parts: [{ text: 'a' }] } },
        { model: 'models/m', content: { parts: [{ text: 'b' }] } },
      ],
    },
  });
  assert.deepEqual(vertexEmbeddingBody(input({ input: ['a', 'b'], dimensions: 4 })), {
    instances: [{ content: 'a' }, { content: 'b' }],
    parameters: { outputDimensionality: 4 },
  });
  assert.equal(readEmbeddingInput({ input: [[1, 2, 3]] }).ok, false);
  assert.equal(readEmbeddingInput({ input: [] }).ok, false);
});

test('responses map to OpenAI data[]; base64 is little-endian float32', () => {
  const r = transformGoogleEmbeddings(
    JSON.stringify({ embeddings: [{ values: [0.5, -1] }, { values: [2, 0.25] }] }),
    'emb',
    'float',
  );
  assert.ok(r.ok);
  assert.deepEqual(JSON.parse(r.body), {
    object: 'list',
    data: [
      { object: 'embedding', index: 0, embedding: [0.5, -1] },
      { object: 'embedding', index: 1, embedding: [2, 0.25] },
    ],
    model: 'emb',
    usage: { prompt_tokens: 0, total_tokens: 0 },
  });
  const b = transformGoogleEmbeddings(JSON.stringify({ embedding: { values: [0.5, -1] } }), 'emb', 'base64');
  assert.ok(b.ok);
  const enc = (JSON.parse(b.body) as { data: { embedding: string }[] }).data[0]?.embedding ?? '';
  const buf = Buffer.from(enc, 'base64');
  assert.deepEqual([buf.readFloatLE(0), buf.readFloatLE(4)], [0.5, -1]);
});

test('Vertex predictions carry token counts into usage', () => {
  const r = transformGoogleEmbeddings(
    JSON.stringify({
      predictions: [
        { embeddings: { values: [1], statistics: { token_count: 3, truncated: false } } },
        { embeddings: { values: [2], statistics: { token_count: 4, truncated: false } } },
      ],
      metadata: { billableCharacterCount: 10 },
    }),
    'emb',
    undefined,
  );
  assert.ok(r.ok);
  assert.equal(r.usage.prompt_tokens, 7);
  assert.equal(r.usage.total_tokens, 7);
  assert.equal(transformGoogleEmbeddings('{"predictions":[{}]}', 'e', undefined).ok, false);
  assert.equal(transformGoogleEmbeddings('nope', 'e', undefined).ok, false);
});
