/** Backend boot details that need no Redis server: what is logged before the connection. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '@aisix/core';
import { pino } from 'pino';
import { openBackends } from './backends.js';
import { BootError } from './resources.js';

test('redis tls.verify: false is logged as a warning naming the key (control-plane §1.9)', async () => {
  const r = parseConfig({
    text: [
      'proxy: {addr: "127.0.0.1:3000"}',
      'admin: {enabled: false}',
      // Nothing listens on port 1: the boot fails after the warning, as it must.
      'ratelimit: {backend: redis, redis: {url: "rediss://127.0.0.1:1", tls: {verify: false}}}',
    ].join('\n'),
    path: 'c.yaml',
    env: {},
  });
  assert.ok(r.ok, r.ok ? '' : r.error);
  const lines: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  await assert.rejects(openBackends(r.config, logger), BootError);
  const warn = lines.find((l) => l.level === 40);
  assert.equal(
    warn?.msg,
    "ratelimit.redis.tls.verify is false: the Redis server's certificate is not verified",
  );
});
