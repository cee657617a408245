import assert from 'node:assert/strict';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { test } from 'node:test';
import { handshakeError, modelParam, offeredProtocols, realtimeToken } from './handshake.js';

const GOOD = {
  connection: 'keep-alive, Upgrade',
  upgrade: 'websocket',
  'sec-websocket-version': '13',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
};

function req(method: string, headers: Record<string, string>): IncomingMessage {
  const r = new IncomingMessage(new Socket());
  r.method = method;
  r.headers = headers;
  return r;
}

test('step 1: each malformed handshake is refused with its status, before authentication', () => {
  const cases: [string, string, Record<string, string>, boolean, number | undefined, string][] = [
    ['valid', 'GET', GOOD, true, undefined, ''],
    ['plain GET', 'GET', {}, false, 400, 'websocket_upgrade_required'],
    ['HEAD', 'HEAD', GOOD, true, 405, 'websocket_upgrade_required'],
    ['POST', 'POST', GOOD, true, 405, 'method_not_allowed'],
    ['h2c', 'GET', { ...GOOD, upgrade: 'h2c' }, true, 400, 'websocket_upgrade_required'],
    [
      'old version',
      'GET',
      { ...GOOD, 'sec-websocket-version': '7' },
      true,
      400,
      'websocket_upgrade_required',
    ],
    ['bad key', 'GET', { ...GOOD, 'sec-websocket-key': 'short' }, true, 400, 'websocket_upgrade_required'],
    [
      'bad protocols',
      'GET',
      { ...GOOD, 'sec-websocket-protocol': 'a, a' },
      true,
      400,
      'websocket_upgrade_required',
    ],
    ['not upgradable', 'GET', GOOD, false, 426, 'websocket_upgrade_required'],
  ];
  for (const [what, method, headers, upgradable, status, type] of cases) {
    const e = handshakeError(req(method, headers), upgradable);
    assert.equal(e?.status, status, what);
    if (e === undefined) continue;
    assert.equal(e.type, type, what);
    if (type === 'websocket_upgrade_required')
      assert.match(e.message, /^this endpoint requires a WebSocket upgrade: /, what);
    if (status === 405) assert.equal(e.headers?.allow, 'GET, HEAD', what);
    if (status === 426) assert.equal(e.headers?.upgrade, 'websocket', what);
  }
});

test('token order: Authorization (no fallback when malformed), x-api-key, then the key subprotocol', () => {
  const sp = 'realtime, openai-insecure-api-key.sk-sub, openai-beta.realtime-v1';
  assert.equal(realtimeToken({ 'sec-websocket-protocol': sp }), 'sk-sub');
  assert.equal(realtimeToken({ authorization: 'Bearer sk-h', 'sec-websocket-protocol': sp }), 'sk-h');
  assert.equal(realtimeToken({ authorization: 'Basic x', 'sec-websocket-protocol': sp }), undefined);
  assert.equal(realtimeToken({ 'x-api-key': 'sk-x', 'sec-websocket-protocol': sp }), 'sk-x');
  assert.equal(realtimeToken({ 'sec-websocket-protocol': 'realtime, openai-insecure-api-key.' }), undefined);
  assert.equal(realtimeToken({}), undefined);
  assert.deepEqual(offeredProtocols({ 'sec-websocket-protocol': sp }), [
    'realtime',
    'openai-insecure-api-key.sk-sub',
    'openai-beta.realtime-v1',
  ]);
});

test('model query parameter: trimmed, blank is absent', () => {
  assert.equal(modelParam('/v1/realtime?model=%20gpt-4o%20'), 'gpt-4o');
  assert.equal(modelParam('/v1/realtime?model=%20'), undefined);
  assert.equal(modelParam('/v1/realtime'), undefined);
  assert.equal(modelParam('/v1/realtime?x=1&model=a%2Fb'), 'a/b');
});
