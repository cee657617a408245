/**
 * A client that closes (FIN) or resets its connection in the middle of a request body is the
 * client's failure: the request is logged as a 400, not as an internal error (500 and an
 * `admin request failed` error line), and the Admin API keeps serving.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, it } from 'node:test';
import {
  ADMIN_KEY,
  embeddedStoreFactory,
  type StoreHandle,
  startTestAdmin,
  type TestAdmin,
} from './testing/harness.js';

let h: StoreHandle;
let admin: TestAdmin;

before(async () => {
  h = await embeddedStoreFactory();
  admin = await startTestAdmin({ store: h.store });
});

after(async () => {
  await admin?.close();
  await h?.close();
});

/** Sends a head announcing 1000 bytes and a part of the body, then half-closes or resets. */
function cutShort(port: number, how: 'fin' | 'reset'): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(
        `POST /admin/v1/provider_keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_KEY}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"display_name":"x",',
      );
      setTimeout(() => (how === 'fin' ? s.end() : s.resetAndDestroy()), 100);
    });
    s.on('data', () => {});
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('a body cut short by FIN or RST is a 400 in the request log, never an internal error', async () => {
  for (const how of ['fin', 'reset'] as const) {
    const before = admin.logs.length;
    await cutShort(admin.port, how);
    await sleep(200);
    const lines = admin.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.filter((l) => l.msg === 'admin request failed'),
      [],
      `${how}: logged as an internal error`,
    );
    const logged = lines.filter((l) => l.msg === 'admin request' && l.route === '/admin/v1/provider_keys');
    assert.deepEqual(
      logged.map((l) => l.status),
      [400],
      `${how}: ${JSON.stringify(lines)}`,
    );
  }
  assert.equal((await admin.call('GET', '/admin/v1/provider_keys')).status, 200);
});
