import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anthropicUrl, openAiUrl } from './url.js';

function url(base: string | null, vendor: string, endpoint: string, chat: boolean): string {
  const r = openAiUrl(base, vendor, endpoint, chat);
  return r.ok ? r.url.href : `ERR ${r.message}`;
}

// [api_base, vendor, endpoint, chat bridge?, expected]
const OPENAI_TABLE: [string | null, string, string, boolean, string][] = [
  [
    'https://api.openai.com/v1',
    'openai',
    '/chat/completions',
    true,
    'https://api.openai.com/v1/chat/completions',
  ],
  [
    'https://api.openai.com',
    'openai',
    '/chat/completions',
    true,
    'https://api.openai.com/v1/chat/completions',
  ],
  ['https://api.openai.com/', 'openai', '/embeddings', false, 'https://api.openai.com/v1/embeddings'],
  [null, 'openai', '/chat/completions', true, 'https://api.openai.com/v1/chat/completions'],
  [null, '', '/embeddings', false, 'https://api.openai.com/v1/embeddings'],
  ['  https://up.example/v1/  ', 'x', '/chat/completions', true, 'https://up.example/v1/chat/completions'],
  [
    'https://up.example/v1/chat/completions',
    'x',
    '/chat/completions',
    true,
    'https://up.example/v1/chat/completions',
  ],
  [
    'https://up.example/v2/chat/completions',
    'x',
    '/chat/completions',
    true,
    'https://up.example/v2/chat/completions',
  ],
  ['https://up.example/v2/responses', 'x', '/responses', false, 'https://up.example/v2/responses'],
  [
    'https://open.bigmodel.cn/api/paas/v4',
    'zhipu',
    '/chat/completions',
    true,
    'https://open.bigmodel.cn/api/paas/v4/chat/completions',
  ],
  [
    'https://generativelanguage.googleapis.com/v1beta/openai',
    'google',
    '/chat/completions',
    true,
    'https://generativelanguage.googleapis.com/v1beta/openai/chat/completions',
  ],
  // OP-2 quirk: the chat bridge adds /v1 to a bare host only for api.openai.com.
  [
    'https://api.deepseek.com',
    'deepseek',
    '/chat/completions',
    true,
    'https://api.deepseek.com/chat/completions',
  ],
  [
    'https://up.example/chat/completions',
    'x',
    '/chat/completions',
    true,
    'https://up.example/chat/completions',
  ],
  ['http://127.0.0.1:8080', 'x', '/chat/completions', true, 'http://127.0.0.1:8080/chat/completions'],
  // ...while every other endpoint uses the bare-host rule.
  ['https://api.deepseek.com', 'deepseek', '/embeddings', false, 'https://api.deepseek.com/v1/embeddings'],
  ['https://up.example/embeddings', 'x', '/embeddings', false, 'https://up.example/v1/embeddings'],
  [
    'http://127.0.0.1:8080/v1/completions',
    'x',
    '/completions',
    false,
    'http://127.0.0.1:8080/v1/completions',
  ],
  ['https://up.example/v1/rerank', 'x', '/embeddings', false, 'https://up.example/v1/embeddings'],
];

test('openAiUrl follows the api_base table (suffix tolerance, bare host, OP-2 quirk)', () => {
  for (const [base, vendor, endpoint, chat, expected] of OPENAI_TABLE) {
    assert.equal(url(base, vendor, endpoint, chat), expected, `${base} ${endpoint}`);
  }
});

test('openAiUrl refuses a missing base for a third-party vendor', () => {
  const r = openAiUrl(undefined, 'groq', '/chat/completions', true);
  assert.equal(r.ok, false);
  assert.equal(
    r.ok ? '' : r.message,
    'invalid upstream configuration: provider_key for vendor "groq" has no upstream base URL configured',
  );
  assert.equal(openAiUrl('   ', 'groq', '/chat/completions', true).ok, false);
});

test('anthropicUrl keeps mounted paths and strips one /v1', () => {
  const cases: [string | null, string, string][] = [
    [null, 'anthropic', 'https://api.anthropic.com/v1/messages'],
    ['https://api.anthropic.com', 'anthropic', 'https://api.anthropic.com/v1/messages'],
    ['https://api.anthropic.com/v1', 'anthropic', 'https://api.anthropic.com/v1/messages'],
    ['https://api.anthropic.com/v1/messages', 'anthropic', 'https://api.anthropic.com/v1/messages'],
    ['https://gw/anthropic', 'x', 'https://gw/anthropic/v1/messages'],
    ['https://gw/anthropic/v1/', 'x', 'https://gw/anthropic/v1/messages'],
  ];
  for (const [base, vendor, expected] of cases) {
    const r = anthropicUrl(base, vendor);
    assert.equal(r.ok ? r.url.href : r.message, expected);
  }
  assert.equal(anthropicUrl(null, 'minimax').ok, false);
});
