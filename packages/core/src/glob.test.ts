import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { globMatch, wildcardCapture } from './glob.js';

describe('globMatch', () => {
  test('single * matches prefix and suffix', () => {
    assert.ok(globMatch('openai/*', 'openai/gpt-4o'));
    assert.ok(globMatch('*', 'anything'));
    assert.ok(globMatch('*', ''));
    assert.ok(globMatch('gpt-*-mini', 'gpt-4o-mini'));
    assert.ok(globMatch('gh__*', 'gh__list_repos'));
    assert.ok(!globMatch('openai/*', 'anthropic/claude'));
    assert.ok(!globMatch('gpt-*-mini', 'gpt-4o'));
  });
  test('prefix and suffix must not overlap', () => {
    assert.ok(!globMatch('a*a', 'a'));
    assert.ok(globMatch('a*a', 'aa'));
    assert.ok(!globMatch('ab*bc', 'abc'));
  });
  test('no * or several * is an exact compare', () => {
    assert.ok(globMatch('gpt-4o', 'gpt-4o'));
    assert.ok(!globMatch('gpt-4o', 'gpt-4o-mini'));
    assert.ok(!globMatch('a*b*c', 'axbxc'));
    assert.ok(globMatch('a*b*c', 'a*b*c'));
    assert.ok(!globMatch('**', 'x'));
  });
});

describe('wildcardCapture', () => {
  test('captures what * stands for', () => {
    assert.equal(wildcardCapture('openai/*', 'openai/gpt-4o'), 'gpt-4o');
    assert.equal(wildcardCapture('pre-*-suf', 'pre-x-suf'), 'x');
    assert.equal(wildcardCapture('*', ''), '');
    assert.equal(wildcardCapture('a*a', 'aa'), '');
  });
  test('null when not a single-* pattern or no match', () => {
    assert.equal(wildcardCapture('a*a', 'a'), null);
    assert.equal(wildcardCapture('no-star', 'no-star'), null);
    assert.equal(wildcardCapture('a*b*', 'ab'), null);
    assert.equal(wildcardCapture('openai/*', 'azure/gpt'), null);
  });
});
