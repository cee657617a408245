/**
 * The agent card through the gateway (agents-and-jobs §3.6) against local agents over real
 * HTTP: candidate order and fallback under one deadline, the rewrite of every URL, what counts
 * as a card, and the public scheme (listener's own; `X-Forwarded-Proto` from a trusted proxy).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import {
  buildSnapshot,
  type Docs,
  type Started,
  sha256,
  startTestGateway,
  testConfig,
} from '../test/fixtures.js';
import { cardCandidates, rewriteCard } from './card.js';

const KEY = 'sk-card-caller';
const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
let agent: Server;
let origin = '';
let g: Started;
let trusting: Started;

const CARD = {
  name: 'x',
  version: '2',
  skills: [{ id: 's' }],
  supportedInterfaces: [
    { url: 'http://internal:9/rpc', protocolBinding: 'JSONRPC' },
    { protocolBinding: 'GRPC' },
  ],
  additionalInterfaces: [{ url: 'http://internal:9/grpc', transport: 'GRPC' }],
};

/** Cards per path; anything else is the platform's catch-all 405. */
const CARDS: Record<string, string> = {
  '/.well-known/agent-card.json': JSON.stringify({ ...CARD, name: 'origin-card' }),
  '/nested/app/.well-known/agent.json': JSON.stringify(CARD),
  '/bad/.well-known/agent-card.json': '{"url":"http://x"}',
  '/slow/.well-known/agent-card.json': 'SLOW',
  // Valid JSON, but nested far too deep to be rewritten and re-encoded.
  '/deep/.well-known/agent-card.json': `{"name":"deep","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
};

before(async () => {
  agent = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    seen.push({ path, headers: req.headers });
    const body = CARDS[path];
    if (body === 'SLOW') return void setTimeout(() => res.end(JSON.stringify(CARD)), 1000);
    if (body === undefined) return void res.writeHead(405).end('no');
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(agent.address() as AddressInfo).port}`;
  const docs = {
    a2a_agents: {
      a: {
        name: 'nested',
        url: `${origin}/nested/app/?q=1`,
        protocol_version: '0.3',
        auth_type: 'bearer',
        secret: 's3',
      },
      b: { name: 'root', url: `${origin}/` },
      c: { name: 'bad', url: `${origin}/bad` },
      d: { name: 'slow', url: `${origin}/slow`, timeout_ms: 200 },
      e: { name: 'gone', url: 'http://127.0.0.1:1/x' },
      f: { name: 'deep', url: `${origin}/deep` },
    },
    api_keys: { k: { key_hash: sha256(KEY), allowed_models: [], allowed_agents: ['*'] } },
  } as Docs;
  g = await startTestGateway(buildSnapshot(docs));
  trusting = await startTestGateway(
    buildSnapshot(docs),
    testConfig({ proxy: { addr: '127.0.0.1:0', real_ip: { trusted_proxies: ['127.0.0.1/32'] } } }),
  );
});

after(async () => {
  await g.gw.close();
  await trusting.gw.close();
  agent.closeAllConnections();
  agent.close();
});

const card = async (base: string, name: string, headers: Record<string, string> = {}) => {
  const res = await fetch(`${base}/a2a/${name}/.well-known/agent-card.json`, {
    headers: { authorization: `Bearer ${KEY}`, ...headers },
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
};

test('candidates: the path-prefixed card first, then the origin, then the legacy name', () => {
  const u = (s: string) => new URL(s);
  assert.deepEqual(
    cardCandidates(u('https://a.example/v3/t/?x=1')).map((c) => c.href),
    [
      'https://a.example/v3/t/.well-known/agent-card.json',
      'https://a.example/.well-known/agent-card.json',
      'https://a.example/v3/t/.well-known/agent.json',
      'https://a.example/.well-known/agent.json',
    ],
  );
  assert.deepEqual(
    cardCandidates(u('https://a.example')).map((c) => c.pathname),
    ['/.well-known/agent-card.json', '/.well-known/agent.json'],
  );
});

test('rewrite: top-level url and every interface url point at the gateway; the rest is kept', () => {
  const out = rewriteCard(CARD, 'https://gw/a2a/x');
  assert.deepEqual(out, {
    ...CARD,
    url: 'https://gw/a2a/x',
    supportedInterfaces: [
      { url: 'https://gw/a2a/x', protocolBinding: 'JSONRPC' },
      { protocolBinding: 'GRPC' },
    ],
    additionalInterfaces: [{ url: 'https://gw/a2a/x', transport: 'GRPC' }],
  });
});

test('fallback: a catch-all 405 moves on; each hop carries the pin and the credential', async () => {
  const before = seen.length;
  const r = await card(g.base, 'nested');
  assert.equal(r.status, 200, r.text);
  const body = JSON.parse(r.text);
  assert.equal(body.name, 'origin-card', 'the origin card is the second candidate');
  assert.equal(body.url, `${g.base}/a2a/nested`);
  assert.ok(!r.text.includes('internal:9'));
  const hops = seen.slice(before);
  assert.deepEqual(
    hops.map((h) => h.path),
    ['/nested/app/.well-known/agent-card.json', '/.well-known/agent-card.json'],
  );
  for (const h of hops) {
    assert.equal(h.headers['a2a-version'], '0.3');
    assert.equal(h.headers.authorization, 'Bearer s3');
  }
});

test('failures: no card anywhere, no name, deadline, agent down: 502 plain text with the last error', async () => {
  const bad = await card(g.base, 'bad');
  assert.equal(bad.status, 200, 'the origin card answers after the bad one');
  const deep = await card(g.base, 'deep');
  assert.equal(deep.status, 200, `a card too deeply nested to rewrite is unparsable: ${deep.text}`);
  assert.equal(JSON.parse(deep.text).name, 'origin-card');
  const gone = await card(g.base, 'gone');
  assert.equal(gone.status, 502);
  assert.equal(gone.type, 'text/plain; charset=utf-8');
  assert.match(gone.text, /^failed to reach upstream A2A agent: connection failed$/);
  const t0 = Date.now();
  const slow = await card(g.base, 'slow');
  assert.equal(slow.status, 502);
  assert.match(slow.text, /timed out after 200 ms/);
  assert.ok(Date.now() - t0 < 900, 'one deadline for all candidates');
});

test('scheme: the listener scheme; X-Forwarded-Proto only from a trusted proxy', async () => {
  const plain = JSON.parse((await card(g.base, 'root', { 'x-forwarded-proto': 'https' })).text);
  assert.match(plain.url, /^http:\/\/127\.0\.0\.1:\d+\/a2a\/root$/);
  const fwd = JSON.parse((await card(trusting.base, 'root', { 'x-forwarded-proto': 'https' })).text);
  assert.match(fwd.url, /^https:\/\/127\.0\.0\.1:\d+\/a2a\/root$/);
  // fetch cannot set Host; undici's request can.
  const host = await request(`${g.base}/a2a/root/.well-known/agent-card.json`, {
    headers: { authorization: `Bearer ${KEY}`, host: 'gw.example:8443' },
  });
  assert.equal(((await host.body.json()) as { url: string }).url, 'http://gw.example:8443/a2a/root');
  const evil = await request(`${g.base}/a2a/root/.well-known/agent-card.json`, {
    headers: { authorization: `Bearer ${KEY}`, host: 'evil.example/path?x' },
  });
  assert.equal(evil.statusCode, 400);
  assert.equal(await evil.body.text(), 'invalid Host header');
});
