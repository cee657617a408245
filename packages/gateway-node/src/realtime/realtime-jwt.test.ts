/**
 * The realtime handshake authenticates a JWT like any route (agents-and-jobs §7.2, §4): sent
 * as the browser's `openai-insecure-api-key.<token>` subprotocol, a valid token maps to its bound
 * key and the session opens; a token whose subject is bound to no key fails before the 101.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { SnapshotBuilder } from '@aisix/core';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { WebSocket, WebSocketServer } from 'ws';
import { type Started, startTestGateway } from '../test/fixtures.js';

const P = '/aisix';
const ISS = 'https://idp.example';
const enc = new TextEncoder();
let rev = 0;
const entry = (kind: string, id: string, doc: unknown) => ({
  key: `${P}/${kind}/${id}`,
  value: enc.encode(JSON.stringify(doc)),
  revision: ++rev,
});

let jwks: Server;
let upstream: Server;
let g: Started;
let mint: (sub: string) => Promise<string>;

const port = (s: Server) => (s.address() as AddressInfo).port;

before(async () => {
  const kp = await generateKeyPair('RS256');
  const pub = { ...(await exportJWK(kp.publicKey)), kid: 'k1' };
  jwks = createServer((_q, s) => s.writeHead(200).end(JSON.stringify({ keys: [pub] })));
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  mint = (sub) =>
    new SignJWT({ sub })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISS)
      .setAudience('aisix')
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600)
      .sign(kp.privateKey);
  const wss = new WebSocketServer({ noServer: true });
  upstream = createServer((_q, s) => s.writeHead(404).end());
  upstream.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d, binary) => ws.send(d, { binary }))),
  );
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const snap = new SnapshotBuilder({ prefix: P }).resync(
    [
      entry('oidc_providers', 'o1', {
        name: 'idp',
        issuer: ISS,
        audiences: ['aisix'],
        jwks_uri: `http://127.0.0.1:${port(jwks)}/jwks`,
      }),
      entry('provider_keys', 'pk1', {
        display_name: 'up',
        provider: 'openai',
        api_key: 'sk-up',
        api_base: `http://127.0.0.1:${port(upstream)}/v1`,
      }),
      entry('models', 'm1', {
        display_name: 'rt',
        provider: 'openai',
        model_name: 'gpt-rt',
        provider_key_id: 'pk1',
      }),
      entry('api_keys', 'k1', {
        key_hash: 'a'.repeat(64),
        allowed_models: ['rt'],
        jwt_provider: 'idp',
        jwt_subject: 'alice',
      }),
    ],
    rev,
  );
  g = await startTestGateway(snap);
});

after(async () => {
  await g.gw.close();
  upstream.closeAllConnections();
  upstream.close();
  jwks.close();
});

function handshake(token: string): Promise<{ ws: WebSocket } | { status: number; body: string }> {
  const ws = new WebSocket(`${g.base.replace('http:', 'ws:')}/v1/realtime?model=rt`, [
    'realtime',
    `openai-insecure-api-key.${token}`,
  ]);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_q, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => {
        ws.on('error', () => {});
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', reject);
  });
}

test('a JWT in the subprotocol opens a session as its bound key; an unmapped subject gets 401 before the 101', async () => {
  const ok = await handshake(await mint('alice'));
  assert.ok('ws' in ok, JSON.stringify(ok));
  assert.equal(ok.ws.protocol, 'realtime');
  const echoed = new Promise<string>((r) => ok.ws.once('message', (d) => r(String(d))));
  ok.ws.send('{"type":"ping-through"}');
  assert.equal(await echoed, '{"type":"ping-through"}');
  ok.ws.close();
  const bad = await handshake(await mint('mallory'));
  assert.ok('status' in bad);
  assert.equal(bad.status, 401);
  assert.equal((JSON.parse(bad.body) as { error: { code: string } }).error.code, 'jwt_identity_unmapped');
});
