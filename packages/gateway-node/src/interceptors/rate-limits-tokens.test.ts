/**
 * Token limits count what each answer cost, after the answer, on every endpoint family, JSON
 * and streamed (data-plane §9.3, §6.3): tokens = prompt + completion + cache creation + cache
 * read (OpenAI cached tokens are a subset of the prompt, not added); streams commit at their
 * end; a failed upstream request commits nothing. Driven by the official SDKs.
 *
 * How an exact count T is pinned: with `tpm: T` two requests pass (T ≤ T after the first) and
 * the third is refused (2T > T); with `tpm: T-1` the second is already refused (T > T-1).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Rig, refused, roomIn, startRig, TOKENS } from '../test/rate-limit-rig.js';

let rig: Rig;

before(async () => {
  rig = await startRig();
});

after(() => rig.close());

const hello = [{ role: 'user' as const, content: 'hello' }];
const TOKENS_MSG = 'token limit exceeded (tokens)';

type Call = (key: string) => Promise<unknown>;

async function assertTokenRefusal(p: Promise<unknown>): Promise<void> {
  const r = await refused(p);
  assert.equal(r.status, 429);
  const e = r.error as { message?: string; error?: { message?: string } };
  assert.equal(e.message ?? e.error?.message, TOKENS_MSG);
  assert.ok(Number(r.retryAfter) >= 1);
}

/** The calls commit exactly `t` tokens each into the caller key's `dim` window. */
async function commitsExactly(t: number, call: Call, dim: 'tpm' | 'tpd' = 'tpm'): Promise<void> {
  await roomIn(dim === 'tpm' ? 60 : 86_400, 6000);
  const a = rig.key({ [dim]: t });
  await call(a);
  await call(a);
  await assertTokenRefusal(call(a));
  const b = rig.key({ [dim]: t - 1 });
  await call(b);
  await assertTokenRefusal(call(b));
}

async function drain(s: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of s) n++;
  return n;
}

describe('chat completions', () => {
  test('JSON: prompt + completion (cached prompt tokens not added)', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.chat, (k) =>
      rig.client(k).chat.completions.create({ model, messages: hello }),
    );
  });

  test('stream: committed at its end from the usage the gateway asked for (tpd)', async () => {
    const model = rig.model();
    await commitsExactly(
      TOKENS.chat,
      async (k) => {
        const n = await drain(
          await rig.client(k).chat.completions.create({ model, messages: hello, stream: true }),
        );
        assert.ok(n >= 3);
      },
      'tpd',
    );
  });

  test('stream with include_usage asked by the caller: the same count', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.chat, async (k) => {
      const s = await rig.client(k).chat.completions.create({
        model,
        messages: hello,
        stream: true,
        stream_options: { include_usage: true },
      });
      let usage: unknown;
      for await (const c of s) if (c.usage) usage = c.usage;
      assert.equal((usage as { total_tokens: number }).total_tokens, TOKENS.chat);
    });
  });

  test('stream without a usage-only chunk: what the translator saw (usage on the finish chunk)', async () => {
    const model = rig.model(undefined, 'inusage-x');
    await commitsExactly(TOKENS.inUsage, async (k) => {
      await drain(await rig.client(k).chat.completions.create({ model, messages: hello, stream: true }));
    });
  });
});

describe('completions and embeddings', () => {
  test('completions JSON', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.completions, (k) =>
      rig.client(k).completions.create({ model, prompt: 'hi' }),
    );
  });

  test('completions stream', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.completions, async (k) => {
      const n = await drain(await rig.client(k).completions.create({ model, prompt: 'hi', stream: true }));
      assert.ok(n >= 2);
    });
  });

  test('embeddings', async () => {
    const model = rig.model();
    await commitsExactly(
      TOKENS.embeddings,
      (k) => rig.client(k).embeddings.create({ model, input: 'hi' }),
      'tpd',
    );
  });
});

describe('/v1/messages', () => {
  test('bridged to an OpenAI upstream, JSON', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.chat, async (k) => {
      const m = await rig.anthropic(k).messages.create({ model, max_tokens: 16, messages: hello });
      assert.equal(m.type, 'message');
    });
  });

  test('bridged to an OpenAI upstream, stream', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.chat, async (k) => {
      const n = await drain(
        await rig.anthropic(k).messages.create({ model, max_tokens: 16, messages: hello, stream: true }),
      );
      assert.ok(n >= 4);
    });
  });

  test('native Anthropic upstream, JSON: input + output + cache creation + cache read', async () => {
    const model = rig.claude();
    await commitsExactly(TOKENS.anthropic, async (k) => {
      const m = await rig.anthropic(k).messages.create({ model, max_tokens: 16, messages: hello });
      assert.equal(m.usage.cache_read_input_tokens, 3);
    });
  });

  test('native Anthropic upstream, stream', async () => {
    const model = rig.claude();
    await commitsExactly(
      TOKENS.anthropic,
      async (k) => {
        const n = await drain(
          await rig.anthropic(k).messages.create({ model, max_tokens: 16, messages: hello, stream: true }),
        );
        assert.ok(n >= 4);
      },
      'tpd',
    );
  });

  test('native, on the model layer: the model counts every caller', async () => {
    await roomIn(60, 6000);
    const model = rig.claude({ tpm: TOKENS.anthropic });
    const call = (k: string) => rig.anthropic(k).messages.create({ model, max_tokens: 16, messages: hello });
    await call(rig.key());
    await call(rig.key());
    await assertTokenRefusal(call(rig.key()));
  });
});

describe('/v1/responses', () => {
  test('JSON: input (cached subset not added) + output', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.responses, (k) => rig.client(k).responses.create({ model, input: 'hi' }));
  });

  test('stream: usage of response.completed', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.responses, async (k) => {
      const n = await drain(await rig.client(k).responses.create({ model, input: 'hi', stream: true }));
      assert.ok(n >= 5);
    });
  });
});

describe('passthrough endpoints with usage', () => {
  test('rerank', async () => {
    const model = rig.model();
    await commitsExactly(TOKENS.rerank, (k) =>
      rig.client(k).post('/rerank', { body: { model, query: 'q', documents: ['a', 'b'] } }),
    );
  });

  test('images: input + output tokens', async () => {
    const model = rig.model();
    await commitsExactly(
      TOKENS.images,
      (k) => rig.client(k).images.generate({ model, prompt: 'a cat' }),
      'tpd',
    );
  });
});

describe('failed upstream requests commit 0 tokens', () => {
  for (const [name, upstream, status] of [
    ['upstream 500 (502 to the caller)', 'fail500-x', 502],
    ['upstream 400', 'fail400-x', 400],
  ] as const) {
    test(`${name}, JSON and stream: the key's tpm 1 is still unspent`, async () => {
      await roomIn(60, 6000);
      const key = rig.key({ tpm: 1 });
      const bad = rig.model(undefined, upstream);
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
        assert.equal((await refused(c.responses.create({ model: bad, input: 'hi' }))).status, status);
        assert.equal((await refused(c.embeddings.create({ model: bad, input: 'hi' }))).status, status);
      }
      // Nothing was committed: one real answer is admitted (0 ≤ 1), its 12 tokens then refuse.
      const good = rig.model();
      await c.chat.completions.create({ model: good, messages: hello });
      await assertTokenRefusal(c.chat.completions.create({ model: good, messages: hello }));
    });
  }
});
