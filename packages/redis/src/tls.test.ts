import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { OutboundTlsConfig } from '@aisix/core';
import {
  freePort,
  type RedisProcess,
  redisConn,
  selfSignedCert,
  startRedis,
  type TestCert,
} from '@aisix/testkit';
import { connectRedis } from './index.js';

// Debian's redis-server is built with TLS (`--tls-port`); a build without it fails `before`
// with redis-server's own error in the message, never a skipped test.
let serverCert: TestCert;
let clientCert: TestCert;
let server: RedisProcess;
let mutual: RedisProcess;
let tlsPort: number;
let mutualPort: number;

const tls = (over: Partial<OutboundTlsConfig>): OutboundTlsConfig => ({
  ca_file: undefined,
  client_cert_file: undefined,
  client_key_file: undefined,
  verify: true,
  ...over,
});

before(async () => {
  serverCert = selfSignedCert();
  clientCert = selfSignedCert();
  // Trusted by the servers for client certificates: both self-signed certs.
  const bundle = join(serverCert.dir, 'bundle.pem');
  writeFileSync(bundle, serverCert.cert + clientCert.cert);
  const args = (port: number, authClients: 'yes' | 'no') => [
    '--tls-port',
    String(port),
    '--tls-cert-file',
    serverCert.certFile,
    '--tls-key-file',
    serverCert.keyFile,
    '--tls-ca-cert-file',
    bundle,
    '--tls-auth-clients',
    authClients,
  ];
  tlsPort = await freePort();
  mutualPort = await freePort();
  [server, mutual] = await Promise.all([
    startRedis({ args: args(tlsPort, 'no') }),
    startRedis({ args: args(mutualPort, 'yes') }),
  ]);
});

after(async () => {
  await Promise.all([server?.stop(), mutual?.stop()]);
  for (const c of [serverCert, clientCert]) if (c) rmSync(c.dir, { recursive: true, force: true });
});

test('tls: rediss:// with ca_file as an extra trust root', async () => {
  const h = await connectRedis(
    redisConn({ url: `rediss://127.0.0.1:${tlsPort}`, tls: tls({ ca_file: serverCert.certFile }) }),
  );
  try {
    assert.equal(h.describe, `single rediss://127.0.0.1:${tlsPort}`);
    assert.equal(await h.command('k', ['SET', 'k', 'over-tls']), 'OK');
    assert.equal(await h.command('k', ['GET', 'k']), 'over-tls');
    // It really is the TLS port: the plaintext listener is a different one.
    assert.notEqual(server.port, tlsPort);
  } finally {
    await h.close();
  }
});

test('tls: an untrusted certificate fails the boot; verify: false accepts it', async () => {
  await assert.rejects(
    connectRedis(redisConn({ url: `rediss://127.0.0.1:${tlsPort}`, tls: undefined }), {
      connectTimeoutMs: 300,
    }),
    (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`^redis single rediss://127\\.0\\.0\\.1:${tlsPort}: cannot connect`),
      );
      assert.match(err.message, /self[- ]signed certificate/i);
      return true;
    },
  );
  const h = await connectRedis(
    redisConn({ url: `rediss://127.0.0.1:${tlsPort}`, tls: tls({ verify: false }) }),
  );
  try {
    assert.equal(await h.command(undefined, ['PING']), 'PONG');
  } finally {
    await h.close();
  }
});

test('tls: a client certificate for a server that requires one', async () => {
  const url = `rediss://127.0.0.1:${mutualPort}`;
  const h = await connectRedis(
    redisConn({
      url,
      tls: tls({
        ca_file: serverCert.certFile,
        client_cert_file: clientCert.certFile,
        client_key_file: clientCert.keyFile,
      }),
    }),
  );
  try {
    assert.equal(await h.command(undefined, ['PING']), 'PONG');
  } finally {
    await h.close();
  }
  // Without one, TLS 1.3 lets the client finish its handshake; the refusal (an alert, then a
  // reset: two socket errors, which node-redis alone turns into an uncaught exception) comes
  // on the first read. A boot failure naming the alert, not a crash and not a handle.
  await assert.rejects(
    connectRedis(redisConn({ url, tls: tls({ ca_file: serverCert.certFile }) }), { connectTimeoutMs: 300 }),
    /redis single rediss:\/\/127\.0\.0\.1:\d+: cannot connect within 300 ms \(.*certificate required/,
  );
});

test('tls: unreadable files are connect errors; redis:// ignores the tls block', async () => {
  await assert.rejects(
    connectRedis(
      redisConn({ url: `rediss://127.0.0.1:${tlsPort}`, tls: tls({ ca_file: '/nonexistent/ca.pem' }) }),
    ),
    /redis tls: cannot read ca_file \/nonexistent\/ca\.pem/,
  );
  const h = await connectRedis(redisConn({ url: server.url, tls: tls({ ca_file: '/nonexistent/ca.pem' }) }));
  try {
    assert.equal(await h.command(undefined, ['PING']), 'PONG');
  } finally {
    await h.close();
  }
});
