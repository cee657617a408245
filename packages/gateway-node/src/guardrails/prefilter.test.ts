import assert from 'node:assert/strict';
import { test } from 'node:test';
import { re2 } from '@aisix/core';
import { anyPrefilter, foldedOnce, patternPrefilter } from './prefilter.js';

const PATTERNS = [
  '(?i)launch-code-[0-9]{4}',
  'launch-code-[0-9]{4}',
  '(?i)sk-(live|test)_[a-z0-9]{8}',
  '(?i)(project|operation) (kestrel|osprey)',
  'ACME-[A-Z]{2}(-internal)?',
  '(?i)secret|(?:confidential)',
  '(?i)kelvin-ks',
  '(?i)ſtop',
  'x+y*z',
];

/** Text from an alphabet with the case-folding traps (KELVIN SIGN, LONG S, dotted I, sigma). */
const ALPHABET = [
  ...'abcdeiklnoprstuxyzACEIKLNOPRSTUXYZ0123456789-_ ',
  '\u212a',
  '\u017f',
  '\u0130',
  '\u03a3',
  'launch-code-',
  'LAUNCH-CODE-',
  '\u212aelvin-',
  '1234',
  '0000',
  'launch-code-4821',
  'LAUNCH-CODE-9876',
  'Launch-Code-55',
  'sk-live_abcd1234',
  'SK-TEST_0000ffff',
  'ACME-XY',
  'ACME-XY-internal',
  '\u017ftop',
  'xyz',
  'xxz',
  'sk-live_',
  'SK-TEST_',
  'project ',
  'Operation ',
  'kestrel',
  'OSPREY',
  'ACME-',
  'secret',
  'SeCrEt',
  'confidential',
  'kelvin-',
  'kelvin-\u212a\u017f',
  'KELVIN-KS',
  'stop',
  'STOP',
  '\u017fTOP',
];

function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x80000000;
  };
}

test('a prefilter never says "cannot match" when the regex matches (randomised, with folding traps)', () => {
  const r = rng(7);
  for (const p of PATTERNS) {
    const re = re2().compile(p);
    const pre = patternPrefilter(p);
    let matches = 0;
    for (let i = 0; i < 3000; i++) {
      let text = '';
      const n = 1 + Math.floor(r() * 12);
      for (let j = 0; j < n; j++) text += ALPHABET[Math.floor(r() * ALPHABET.length)];
      const found = re.matcher(text).find();
      if (found) matches++;
      if (found && pre !== undefined)
        assert.ok(pre(text, foldedOnce(text)), `${p} on ${JSON.stringify(text)}`);
    }
    assert.ok(matches > 10, `the sample exercises ${p} (${matches} matches)`);
  }
});

test('case-insensitive patterns get a prefilter that rejects text without their literals', () => {
  for (const p of [
    '(?i)launch-code-[0-9]{4}',
    '(?i)sk-(live|test)_[a-z0-9]{8}',
    'launch-code-[0-9]{4}',
    '(?i)kelvin-ks',
  ]) {
    const pre = patternPrefilter(p);
    assert.ok(pre, `${p} has a prefilter`);
    const calm = 'Say hello in one short sentence, please.';
    assert.equal(pre(calm, foldedOnce(calm)), false, p);
  }
  const ci = patternPrefilter('(?i)launch-code-[0-9]{4}');
  for (const t of ['LAUNCH-CODE-1234', 'Launch-Code-', 'x launch-CODE-'])
    assert.equal(ci?.(t, foldedOnce(t)), true, t);
  // KELVIN SIGN folds to k under (?i).
  const k = patternPrefilter('(?i)kelvin-ks');
  const kelvin = '\u212aelvin-\u212a\u017f';
  assert.ok(re2().compile('(?i)kelvin-ks').matcher(kelvin).find());
  assert.equal(k?.(kelvin, foldedOnce(kelvin)), true);
  // The long s folds to s under (?i): the prefilter must let it through.
  const s = patternPrefilter('(?i)stop');
  assert.equal(s?.('\u017fTOP', foldedOnce('\u017fTOP')), true);
  assert.ok(re2().compile('(?i)stop').matcher('\u017fTOP').find());
});

test('no prefilter where it could not be exact: other flags, named groups, non-ASCII literals, no literal', () => {
  for (const p of ['(?s)a.b', 'a(?i)b', '(?P<n>abc)', '(?i)café', '[0-9]{4}', 'a*', '\\(?abc'])
    assert.equal(patternPrefilter(p), undefined, p);
  // An alternation has one only when every member has one.
  assert.equal(anyPrefilter(['(?i)abc', '[0-9]+']), undefined);
  const both = anyPrefilter(['(?i)abc', 'xyz']);
  assert.ok(both);
  assert.equal(both('..ABC..', foldedOnce('..ABC..')), true);
  assert.equal(both('..XYZ..', foldedOnce('..XYZ..')), false, 'xyz is case-sensitive');
  assert.equal(both('..xyz..', foldedOnce('..xyz..')), true);
});
