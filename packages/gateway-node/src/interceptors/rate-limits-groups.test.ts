/**
 * Rate limits on routing groups (data-plane §9.4 "per routing attempt", §7.3 notes): the group's
 * own inline limit counts at the request gate; each member is checked as it is about to be
 * tried, on its inline limit and the policies that follow the model; a member over its limit is
 * skipped and the next serves; all over → 429 with the limiter's Retry-After (and
 * `error.policy` when a policy refused last); the winner's tokens are committed to its buckets.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { type Rig, refused, roomIn, secsLeft, startRig } from '../test/rate-limit-rig.js';

let rig: Rig;

before(async () => {
  rig = await startRig();
});

after(() => rig.close());

beforeEach(() => roomIn(60, 5000));

const hello = [{ role: 'user' as const, content: 'hello' }];
type Doc = Record<string, unknown>;

interface Group {
  readonly alias: string;
  /** Member aliases, in failover order, and their upstream model names. */
  readonly members: readonly { alias: string; upstream: string }[];
}

/** A failover group over fresh members with the given inline limits. */
function group(limits: readonly (Doc | undefined)[], groupLimit?: Doc, extra: Doc = {}): Group {
  const members = limits.map((l) => {
    const upstream = rig.uid('up-');
    return { alias: rig.model(l, upstream), upstream };
  });
  const alias = rig.uid('grp-');
  rig.apply({
    models: {
      [alias]: {
        display_name: alias,
        routing: { strategy: 'failover', targets: members.map((m) => ({ model: m.alias })), ...extra },
        ...(groupLimit ? { rate_limit: groupLimit } : {}),
      },
    },
  });
  return { alias, members };
}

/** Served: which member (header) and which upstream model the mock was asked for. */
async function served(key: string, g: Group, stream = false): Promise<string> {
  const c = rig.client(key);
  let headers: Headers;
  if (stream) {
    const { data, response } = await c.chat.completions
      .create({ model: g.alias, messages: hello, stream: true })
      .withResponse();
    for await (const _ of data);
    headers = response.headers;
  } else {
    headers = (await c.chat.completions.create({ model: g.alias, messages: hello }).withResponse()).response
      .headers;
  }
  const by = headers.get('x-aisix-served-by') ?? '';
  const m = g.members.find((x) => x.alias === by);
  assert.ok(m, `served by a member (${by})`);
  assert.equal(rig.up.requests.at(-1)?.json?.model, m.upstream);
  return by;
}

test('a member over its inline rpm is skipped; the next one serves', async () => {
  const g = group([{ rpm: 1 }, undefined]);
  const key = rig.key();
  const [a, b] = g.members.map((m) => m.alias);
  assert.equal(await served(key, g), a);
  const n = rig.up.requests.length;
  assert.equal(await served(key, g), b);
  assert.equal(rig.up.requests.length, n + 1, 'the skipped member was never called');
  assert.equal(await served(rig.key(), g), b, 'the member limit counts every caller');
});

test('every member over its limit: 429 with the limiter Retry-After, no upstream call', async () => {
  const g = group([{ rpm: 1 }, { rpm: 1 }]);
  const key = rig.key();
  await served(key, g);
  await served(key, g);
  const n = rig.up.requests.length;
  const t0 = Date.now();
  const r = await refused(rig.client(key).chat.completions.create({ model: g.alias, messages: hello }));
  const t1 = Date.now();
  assert.equal(r.status, 429);
  assert.deepEqual(r.error, { message: 'request limit exceeded (requests)', type: 'rate_limit_exceeded' });
  const s = Number(r.retryAfter);
  assert.ok(s >= secsLeft(60, t1) && s <= secsLeft(60, t0), `Retry-After ${r.retryAfter}`);
  assert.equal(rig.up.requests.length, n);
  // /v1/messages: the Anthropic envelope.
  const m = await refused(
    rig.anthropic(key).messages.create({ model: g.alias, max_tokens: 5, messages: hello }),
  );
  assert.equal(m.status, 429);
  assert.deepEqual(m.error, {
    type: 'error',
    error: { type: 'rate_limit_error', message: 'request limit exceeded (requests)' },
  });
  assert.ok(Number(m.retryAfter) >= 1);
});

test('a skipped member does not make the group fail for later requests (no cooldown)', async () => {
  const g = group([{ rpm: 1 }, { rpm: 2 }]);
  const [a, b] = g.members.map((m) => m.alias);
  const key = rig.key();
  assert.equal(await served(key, g), a);
  assert.equal(await served(key, g), b);
  assert.equal(await served(key, g), b);
  assert.equal(
    (await refused(rig.client(key).chat.completions.create({ model: g.alias, messages: hello }))).status,
    429,
  );
});

test("the winner's tokens are committed: its tpm then refuses it and the next member serves", async () => {
  const g = group([{ tpm: 12 }, undefined]);
  const [a, b] = g.members.map((m) => m.alias);
  const key = rig.key();
  assert.equal(await served(key, g), a); // 12 ≤ 12
  assert.equal(await served(key, g), a); // 24 > 12
  assert.equal(await served(key, g), b);
  // Streams too: a second group, committed at the stream end.
  const g2 = group([{ tpd: 12 }, undefined]);
  assert.equal(await served(key, g2, true), g2.members[0]?.alias);
  assert.equal(await served(key, g2, true), g2.members[0]?.alias);
  assert.equal(await served(key, g2, true), g2.members[1]?.alias);
});

test("a member's concurrency slot is held while it serves and released after", async () => {
  const members = [rig.model({ concurrency: 1 }, 'slow-g'), rig.model(undefined, 'up-free')];
  const alias = rig.uid('grp-');
  rig.apply({
    models: {
      [alias]: {
        display_name: alias,
        routing: { strategy: 'failover', targets: members.map((m) => ({ model: m })) },
      },
    },
  });
  const key = rig.key();
  const c = rig.client(key);
  const { data, response } = await c.chat.completions
    .create({ model: alias, messages: hello, stream: true })
    .withResponse();
  assert.equal(response.headers.get('x-aisix-served-by'), members[0]);
  const it = data[Symbol.asyncIterator]();
  await it.next();
  const other = await c.chat.completions.create({ model: alias, messages: hello }).withResponse();
  assert.equal(other.response.headers.get('x-aisix-served-by'), members[1]);
  for (let r = await it.next(); r.done !== true; r = await it.next());
  const again = await c.chat.completions
    .create({ model: alias, messages: hello, stream: true })
    .withResponse();
  assert.equal(again.response.headers.get('x-aisix-served-by'), members[0]);
  for await (const _ of again.data);
});

test("the group's own inline limit counts at the request gate", async () => {
  const g = group([undefined, undefined], { rpm: 1 });
  const key = rig.key();
  await served(key, g);
  const r = await refused(rig.client(rig.key()).chat.completions.create({ model: g.alias, messages: hello }));
  assert.equal(r.status, 429);
  assert.deepEqual(r.error, { message: 'request limit exceeded (requests)', type: 'rate_limit_exceeded' });
});

test('model-following policies: classic model scope and a model_name condition skip a member', async () => {
  const g = group([undefined, undefined, undefined]);
  const [a, b, c] = g.members;
  const pa = rig.uid('pol-');
  const pb = rig.uid('pol-');
  rig.apply({
    policies: {
      [pa]: { name: `${pa}-n`, scope: 'model', scope_ref: a?.alias, window: 'minute', max_requests: 1 },
      [pb]: {
        name: `${pb}-n`,
        conditions: [{ dimension: 'model_name', operator: '~~', value: `^${b?.upstream}$` }],
        limits: { rpm: 1 },
      },
    },
  });
  const key = rig.key();
  assert.equal(await served(key, g), a?.alias);
  assert.equal(await served(key, g), b?.alias);
  assert.equal(await served(key, g), c?.alias);
  assert.equal(await served(key, g), c?.alias);
});

test('all members refused by policies: the last refusal carries error.policy', async () => {
  const g = group([undefined, undefined]);
  const [a, b] = g.members;
  const ids = [rig.uid('pol-'), rig.uid('pol-')];
  rig.apply({
    policies: {
      [ids[0] as string]: {
        name: 'first-member',
        scope: 'model',
        scope_ref: a?.alias,
        window: 'minute',
        max_requests: 1,
      },
      [ids[1] as string]: {
        name: 'second-member',
        scope: 'model',
        scope_ref: b?.alias,
        window: 'minute',
        max_requests: 1,
      },
    },
  });
  const key = rig.key();
  await served(key, g);
  await served(key, g);
  const r = await refused(rig.client(key).chat.completions.create({ model: g.alias, messages: hello }));
  assert.equal(r.status, 429);
  assert.deepEqual(r.error, {
    message: "request limit exceeded (requests) (policy 'second-member')",
    type: 'rate_limit_exceeded',
    policy: { id: ids[1], name: 'second-member' },
  });
  assert.ok(Number(r.retryAfter) >= 1);
});

test("headers of group traffic include the serving member's limit (tightest layer)", async () => {
  const g = group([{ rpm: 5 }, undefined]);
  const key = rig.key({ rpm: 100 });
  const { response } = await rig
    .client(key)
    .chat.completions.create({ model: g.alias, messages: hello })
    .withResponse();
  assert.equal(response.headers.get('x-ratelimit-limit-requests'), '5');
  assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '4');
  // With no key limit, the member's limit alone.
  const { response: r2 } = await rig
    .client(rig.key())
    .chat.completions.create({ model: g.alias, messages: hello })
    .withResponse();
  assert.equal(r2.headers.get('x-ratelimit-limit-requests'), '5');
  assert.equal(r2.headers.get('x-ratelimit-remaining-requests'), '3');
});

test('OP-9: a request refused because every member is over its limit leaves no count on the key', async () => {
  const g = group([{ rpm: 1 }, { rpm: 1 }]);
  const key = rig.key({ rpm: 3 });
  await served(key, g); // key 1/3
  await served(key, g); // key 2/3
  for (let i = 0; i < 3; i++) {
    const r = await refused(rig.client(key).chat.completions.create({ model: g.alias, messages: hello }));
    assert.deepEqual(r.error, { message: 'request limit exceeded (requests)', type: 'rate_limit_exceeded' });
  }
  const direct = rig.model();
  const { response } = await rig
    .client(key)
    .chat.completions.create({ model: direct, messages: hello })
    .withResponse();
  assert.equal(
    response.headers.get('x-ratelimit-remaining-requests'),
    '0',
    'key 3/3: the refusals were not counted',
  );
});
