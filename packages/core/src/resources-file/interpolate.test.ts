// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${VAR}` here is file text under test.
/** `${VAR}` interpolation of resources-file string values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InterpolationError, interpolateString, interpolateTree } from './interpolate.js';

const env = { HOST: 'api.example.com', KEY: 'sk-1', EMPTY: '' };

describe('interpolateString', () => {
  it('replaces ${VAR}, also inside a longer string', () => {
    assert.equal(interpolateString('${KEY}', env), 'sk-1');
    assert.equal(interpolateString('https://${HOST}/v1', env), 'https://api.example.com/v1');
  });
  it('$$ is a literal $ and a bare $VAR is left untouched', () => {
    assert.equal(interpolateString('a$$b', env), 'a$b');
    assert.equal(interpolateString('$$' + '{KEY}', env), '${KEY}');
    assert.equal(interpolateString('$KEY and $', env), '$KEY and $');
  });
  it('unset or empty variables are errors naming the variable', () => {
    assert.throws(() => interpolateString('${NOPE}', env), /NOPE is not set/);
    assert.throws(() => interpolateString('x${EMPTY}', env), /EMPTY is empty/);
  });
  it('unterminated ${ and empty ${} are errors', () => {
    assert.throws(() => interpolateString('${KEY', env), InterpolationError);
    assert.throws(() => interpolateString('a${}b', env), InterpolationError);
  });
  it('does not re-expand substituted values', () => {
    assert.equal(interpolateString('${V}', { V: '${KEY}' }), '${KEY}');
  });
});

describe('interpolateTree', () => {
  it('interpolates string values only, never keys, numbers or booleans', () => {
    const out = interpolateTree({ '${KEY}': '${KEY}', n: 1, b: true, l: ['${HOST}'] }, env);
    assert.deepEqual(out, { '${KEY}': 'sk-1', n: 1, b: true, l: ['api.example.com'] });
  });
  it('prefixes errors with the field path and never shows a value', () => {
    assert.throws(
      () => interpolateTree({ request: { default_headers: { x: ['ok', 'secret-${NOPE}'] } } }, env),
      (e: Error) => e.message === 'request.default_headers.x[1]: environment variable NOPE is not set',
    );
  });
});
