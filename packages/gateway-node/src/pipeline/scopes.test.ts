/** The scopes' JSON taps: order, replacement, refusals, failures, and who gets the parsed body. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { GatewayError } from '../errors.js';
import { type Scope, tapJson } from './scopes.js';

const log = pino({ level: 'silent' });

/** A scope whose json hook records what it was given and answers with `answer(body)`. */
function recording(
  seen: unknown[][],
  answer: (body: string) => string | GatewayError | Promise<string>,
): Scope {
  return {
    json(body, _usage, value) {
      seen.push([body, value]);
      return answer(body);
    },
  };
}

test('the parsed body is handed on while the body is unchanged, and never after a replacement', () => {
  const value = { a: 1 };
  const seen: unknown[][] = [];
  const out = tapJson(
    log,
    'r1',
    [recording(seen, (b) => b), recording(seen, () => '{"a":2}'), recording(seen, (b) => b)],
    '{"a":1}',
    undefined,
    value,
  );
  assert.equal(out, '{"a":2}');
  assert.deepEqual(seen, [
    ['{"a":1}', value],
    ['{"a":1}', value],
    ['{"a":2}', undefined],
  ]);
});

test('a hook that throws keeps the body and ends the hand-on of the parsed body', () => {
  const seen: unknown[][] = [];
  const out = tapJson(
    log,
    'r2',
    [
      recording(seen, () => {
        throw new Error('boom');
      }),
      recording(seen, (b) => b),
    ],
    '{}',
    undefined,
    {},
  );
  assert.equal(out, '{}');
  assert.equal(seen[1]?.[1], undefined);
});

test('asynchronous hooks: the same rules after the promise; a refusal ends the chain', async () => {
  const value = { b: true };
  const seen: unknown[][] = [];
  const same = await tapJson(
    log,
    'r3',
    [recording(seen, (b) => Promise.resolve(b)), recording(seen, (b) => b)],
    '{"b":true}',
    undefined,
    value,
  );
  assert.equal(same, '{"b":true}');
  assert.equal(seen[1]?.[1], value);
  const refused = await tapJson(
    log,
    'r4',
    [recording([], () => new GatewayError(422, 'content_filter', 'blocked')), recording(seen, (b) => b)],
    '{}',
    undefined,
  );
  assert.ok(refused instanceof GatewayError);
  assert.equal(seen.length, 2);
});
