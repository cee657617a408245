/**
 * Concurrency slots (data-plane §9.3, §6.6): a slot is taken at admission, held for the whole
 * response (streams to their last byte, on every streaming family) and released when the
 * response ends, fails, is refused by a later layer, or the client goes away (SDK abort, a raw
 * socket closed mid-stream, a client gone before the upstream answered).
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../test/mock-upstream.js';
import { type Rig, refused, startRig } from '../test/rate-limit-rig.js';

let rig: Rig;

before(async () => {
  rig = await startRig();
});

after(() => rig.close());

const hello = [{ role: 'user' as const, content: 'hello' }];
const CONCURRENCY = { message: 'concurrency limit exceeded', type: 'rate_limit_exceeded' };

async function assertBusy(key: string, model: string): Promise<void> {
  const r = await refused(rig.client(key).chat.completions.create({ model, messages: hello }));
  assert.equal(r.status, 429);
  assert.deepEqual(r.error, CONCURRENCY);
  assert.equal(r.retryAfter, null);
}

async function assertFree(key: string, model: string): Promise<void> {
  const { response } = await rig
    .client(key)
    .chat.completions.create({ model, messages: hello })
    .withResponse();
  assert.equal(response.status, 200);
}

/**
 * The slot of a request whose client went away is released once the gateway notices the
 * closed socket (an event-loop turn or two later): poll, refusing nothing, for up to 2 s.
 */
async function eventuallyFree(key: string, model: string): Promise<void> {
  const deadline = Date.now() + 2000;
  for (;;) {
    try {
      await assertFree(key, model);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(20);
    }
  }
}

describe('held for the whole response', () => {
  test('chat stream: refused at every point of the stream, free right after its end', async () => {
    const key = rig.key({ concurrency: 1 });
    const slow = rig.model(undefined, 'slow-1');
    const fast = rig.model();
    const stream = await rig
      .client(key)
      .chat.completions.create({ model: slow, messages: hello, stream: true });
    // The mock pauses before each of its 8 words; the last word, the finish chunk and [DONE]
    // may reach the client after the gateway closed the response, so probe before that (every
    // other word, so a slow probe cannot let the client fall behind the stream).
    let words = 0;
    for await (const c of stream) {
      if (!c.choices[0]?.delta.content) continue;
      words++;
      if (words % 2 === 1) await assertBusy(key, fast);
    }
    assert.equal(words, 8);
    await assertFree(key, fast);
  });

  test('bridged /v1/messages stream (Anthropic SDK) holds the slot to message_stop', async () => {
    const key = rig.key({ concurrency: 1 });
    const slow = rig.model(undefined, 'slow-2');
    const fast = rig.model();
    const s = await rig
      .anthropic(key)
      .messages.create({ model: slow, max_tokens: 16, messages: hello, stream: true });
    const types: string[] = [];
    let deltas = 0;
    for await (const e of s) {
      types.push(e.type);
      if (e.type === 'content_block_delta' && ++deltas % 2 === 1) await assertBusy(key, fast);
    }
    assert.equal(deltas, 8);
    assert.equal(types.at(-1), 'message_stop');
    await assertFree(key, fast);
  });

  test('a slow JSON answer holds it until sent; two slots admit two at once, not three', async () => {
    const key = rig.key({ concurrency: 2 });
    const slow = rig.model(undefined, 'slow-3');
    const fast = rig.model();
    const a = rig.client(key).chat.completions.create({ model: slow, messages: hello });
    const b = rig.client(key).chat.completions.create({ model: slow, messages: hello });
    await sleep(100);
    await assertBusy(key, fast);
    await Promise.all([a, b]);
    await assertFree(key, fast);
  });
});

describe('released when the client goes away', () => {
  test('SDK AbortController mid-stream: the next request is admitted', async () => {
    const key = rig.key({ concurrency: 1 });
    const slow = rig.model(undefined, 'slow-4');
    const fast = rig.model();
    const ac = new AbortController();
    const stream = await rig
      .client(key)
      .chat.completions.create({ model: slow, messages: hello, stream: true }, { signal: ac.signal });
    const upstreamClosed = rig.up.nextSocketClose();
    let seen = 0;
    // The SDK ends the iteration quietly on its own abort.
    for await (const _ of stream) {
      seen++;
      if (seen === 2) {
        await assertBusy(key, fast);
        ac.abort();
      }
    }
    assert.equal(seen, 2);
    await upstreamClosed; // the gateway aborted the upstream call too
    await eventuallyFree(key, fast);
  });

  test('Anthropic SDK stream aborted mid-way (bridged): released', async () => {
    const key = rig.key({ concurrency: 1 });
    const slow = rig.model(undefined, 'slow-5');
    const fast = rig.model();
    const s = await rig
      .anthropic(key)
      .messages.create({ model: slow, max_tokens: 16, messages: hello, stream: true });
    for await (const e of s) {
      if (e.type === 'content_block_delta') {
        s.controller.abort();
        break;
      }
    }
    await eventuallyFree(key, fast);
  });

  test('raw socket closed mid-stream: released', async () => {
    const key = rig.key({ concurrency: 1 });
    const slow = rig.model(undefined, 'slow-6');
    const fast = rig.model();
    await new Promise<void>((resolve, reject) => {
      const req = request(
        `${rig.base}/v1/chat/completions`,
        { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } },
        (res) => {
          assert.equal(res.statusCode, 200);
          assert.equal(res.headers['x-ratelimit-remaining-concurrent'], '0');
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', () => {});
      req.once('error', reject);
      req.end(JSON.stringify({ model: slow, messages: hello, stream: true }));
    });
    await eventuallyFree(key, fast);
  });

  test('client gone before the upstream answered (slow JSON): released', async () => {
    const key = rig.key({ concurrency: 1 });
    const slow = rig.model(undefined, 'slow-7');
    const fast = rig.model();
    const ac = new AbortController();
    const p = rig
      .client(key)
      .chat.completions.create({ model: slow, messages: hello }, { signal: ac.signal });
    await sleep(100);
    await assertBusy(key, fast);
    ac.abort();
    await assert.rejects(p);
    await eventuallyFree(key, fast);
  });
});

describe('released after errors and refusals', () => {
  for (const [name, upstream, status] of [
    ['upstream 500', 'fail500-c', 502],
    ['upstream 400', 'fail400-c', 400],
  ] as const) {
    test(`${name}, JSON and stream: the slot comes back each time`, async () => {
      const key = rig.key({ concurrency: 1 });
      const bad = rig.model(undefined, upstream);
      const fast = rig.model();
      const c = rig.client(key);
      for (let i = 0; i < 3; i++) {
        assert.equal(
          (await refused(c.chat.completions.create({ model: bad, messages: hello }))).status,
          status,
        );
        assert.equal(
          (await refused(c.chat.completions.create({ model: bad, messages: hello, stream: true }))).status,
          status,
        );
        assert.equal(
          (await refused(rig.anthropic(key).messages.create({ model: bad, max_tokens: 5, messages: hello })))
            .status,
          status,
        );
      }
      await assertFree(key, fast);
    });
  }

  test('an unknown model (404) and a refusal by a later layer (the model) give it back', async () => {
    const key = rig.key({ concurrency: 1 });
    const closed = rig.model({ rpm: 0 });
    const fast = rig.model();
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await refused(rig.client(key).chat.completions.create({ model: closed, messages: hello }))).status,
        429,
      );
      assert.equal(
        (await refused(rig.client(key).chat.completions.create({ model: 'no-such', messages: hello })))
          .status,
        404,
      );
    }
    await assertFree(key, fast);
  });

  test('the key slot is released when the model refuses on tokens or concurrency', async () => {
    const key = rig.key({ concurrency: 1 });
    const noTokens = rig.model({ tpm: 0 });
    const noSlots = rig.model({ concurrency: 0 });
    const c = rig.client(key);
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await refused(c.chat.completions.create({ model: noTokens, messages: hello }))).status,
        429,
      );
      assert.deepEqual(
        (await refused(c.chat.completions.create({ model: noSlots, messages: hello }))).error,
        CONCURRENCY,
      );
    }
    await assertFree(key, rig.model());
  });
});
