import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCapability, checkPassthrough } from '../contract.js';
import { deepseekAdapter } from './index.js';

test('deepseek serves chat and completions, and refuses what DeepSeek has no API for (501)', () => {
  assert.equal(checkCapability(deepseekAdapter, 'chat', true), undefined);
  assert.equal(checkCapability(deepseekAdapter, 'completions', false), undefined);
  assert.equal(checkCapability(deepseekAdapter, 'embeddings', false)?.kind, 'not_implemented');
  for (const e of ['rerank', 'images_generations', 'audio_speech', 'audio_transcriptions'] as const) {
    assert.equal(checkPassthrough(deepseekAdapter, e)?.kind, 'not_implemented', e);
  }
});
