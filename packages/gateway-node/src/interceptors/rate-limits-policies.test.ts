/**
 * `rate_limit_policies` through a started gateway (data-plane §9.4-9.5, control-plane §3.6):
 * the classic scopes (api_key, model, team, member, team_member with one counter per member)
 * and windows, the conditional form (and/or/negate/in/regex on model_name and provider,
 * group_by), suspension schedules, the refusal (`error.policy` in the OpenAI envelope, the
 * policy named in both envelopes' message, metric `layer="policy"`), and OP-9: a refusal by a
 * later layer leaves no count in the earlier ones.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { type Rig, refused, rlHeaders, roomIn, secsLeft, startRig } from '../test/rate-limit-rig.js';

let rig: Rig;

before(async () => {
  rig = await startRig();
});

after(() => rig.close());

// Every test here counts at most a few requests in minute windows: keep them in one.
beforeEach(() => roomIn(60, 5000));

const hello = [{ role: 'user' as const, content: 'hello' }];
type Doc = Record<string, unknown>;

/** Adds a policy under a fresh id and returns `{id, name}`. */
function policy(doc: Doc): { id: string; name: string } {
  const id = rig.uid('pol-');
  const name = `${id}-name`;
  rig.apply({ policies: { [id]: { name, ...doc } } });
  return { id, name };
}

const ok = async (key: string, model: string) => {
  const { response } = await rig
    .client(key)
    .chat.completions.create({ model, messages: hello })
    .withResponse();
  assert.equal(response.status, 200);
  return response;
};

/** Refused by `p` in the OpenAI envelope (with `error.policy`) and with its Retry-After. */
async function refusedBy(
  key: string,
  model: string,
  p: { id: string; name: string },
  reason = 'request limit exceeded (requests)',
  w = 60,
): Promise<void> {
  const t0 = Date.now();
  const r = await refused(rig.client(key).chat.completions.create({ model, messages: hello }));
  const t1 = Date.now();
  assert.equal(r.status, 429);
  assert.deepEqual(r.error, {
    message: `${reason} (policy '${p.name}')`,
    type: 'rate_limit_exceeded',
    policy: { id: p.id, name: p.name },
  });
  const n = Number(r.retryAfter);
  assert.ok(n >= secsLeft(w, t1) && n <= secsLeft(w, t0), `Retry-After ${r.retryAfter}`);
}

const classic = (scope: string, scope_ref: string, extra: Doc = { window: 'minute', max_requests: 1 }) => ({
  scope,
  scope_ref,
  ...extra,
});

describe('classic scopes', () => {
  test('api_key: the refusal names the policy in both envelopes; headers from the policy', async () => {
    const key = rig.key();
    const model = rig.model();
    const p = policy(classic('api_key', key, { window: 'minute', max_requests: 2 }));
    const first = await ok(key, model);
    assert.equal(rlHeaders(first.headers)['x-ratelimit-limit-requests'], '2');
    assert.equal(rlHeaders(first.headers)['x-ratelimit-remaining-requests'], '1');
    await ok(key, model);
    await refusedBy(key, model, p);
    const a = await refused(rig.anthropic(key).messages.create({ model, max_tokens: 5, messages: hello }));
    assert.equal(a.status, 429);
    assert.deepEqual(a.error, {
      type: 'error',
      error: { type: 'rate_limit_error', message: `request limit exceeded (requests) (policy '${p.name}')` },
    });
    assert.ok(Number(a.retryAfter) >= 1);
    await ok(rig.key(), model); // another key is not subject
  });

  test('model: every caller of that model id shares one counter; other models are free', async () => {
    const model = rig.model();
    const p = policy(classic('model', model));
    await ok(rig.key(), model);
    await refusedBy(rig.key(), model, p);
    await ok(rig.key(), rig.model());
  });

  test('team: the keys of the team share it; other teams and team-less keys are free', async () => {
    const team = rig.uid('team-');
    const model = rig.model();
    const p = policy(classic('team', team));
    await ok(rig.key(undefined, { team_id: team }), model);
    await refusedBy(rig.key(undefined, { team_id: team, user_id: 'anyone' }), model, p);
    await ok(rig.key(undefined, { team_id: `${team}-other` }), model);
    await ok(rig.key(), model);
  });

  test('member: the keys of one user_id share it, across teams', async () => {
    const user = rig.uid('user-');
    const model = rig.model();
    const p = policy(classic('member', user));
    await ok(rig.key(undefined, { user_id: user, team_id: 't1' }), model);
    await refusedBy(rig.key(undefined, { user_id: user, team_id: 't2' }), model, p);
    await ok(rig.key(undefined, { user_id: `${user}-2` }), model);
  });

  test('team_member: one counter per member of the team; member-less keys and other teams free', async () => {
    const team = rig.uid('team-');
    const model = rig.model();
    const p = policy(classic('team_member', team));
    const u1a = rig.key(undefined, { team_id: team, user_id: 'u1' });
    const u1b = rig.key(undefined, { team_id: team, user_id: 'u1' });
    const u2 = rig.key(undefined, { team_id: team, user_id: 'u2' });
    await ok(u1a, model);
    await refusedBy(u1b, model, p);
    await ok(u2, model);
    await refusedBy(u2, model, p);
    const noMember = rig.key(undefined, { team_id: team });
    for (let i = 0; i < 3; i++) await ok(noMember, model);
    await ok(rig.key(undefined, { team_id: `${team}-x`, user_id: 'u1' }), model);
  });

  test('windows: second → rps, hour → rph, minute max_tokens → tpm', async () => {
    await roomIn(3600, 5000);
    const model = rig.model();
    const hourKey = rig.key();
    const ph = policy(classic('api_key', hourKey, { window: 'hour', max_requests: 1 }));
    await ok(hourKey, model);
    await refusedBy(hourKey, model, ph, undefined, 3600);
    const tokKey = rig.key();
    const pt = policy(classic('api_key', tokKey, { window: 'minute', max_tokens: 12 }));
    await ok(tokKey, model); // 12 ≤ 12
    await ok(tokKey, model); // 24 > 12
    await refusedBy(tokKey, model, pt, 'token limit exceeded (tokens)');
    const secKey = rig.key();
    const ps = policy(classic('api_key', secKey, { window: 'second', max_requests: 1 }));
    for (let round = 0; ; round++) {
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
      const s = Math.floor(Date.now() / 1000);
      await ok(secKey, model);
      const r = await refused(rig.client(secKey).chat.completions.create({ model, messages: hello })).catch(
        (e) => e,
      );
      if (Math.floor(Date.now() / 1000) !== s && round < 3) continue;
      assert.equal(r.status, 429);
      assert.equal(r.retryAfter, '1');
      assert.deepEqual((r.error as Doc).policy, ps);
      break;
    }
  });
});

describe('conditional policies', () => {
  test('regex on model_name: ~* ignores case, ~~ does not', async () => {
    const tag = rig.uid('cx');
    const upper = rig.model(undefined, `GPT-${tag}`);
    const lower = rig.model(undefined, `gpt-${tag}`);
    const other = rig.model(undefined, 'other-model');
    const key = rig.key();
    const ci = policy({
      conditions: [
        { dimension: 'model_name', operator: '~*', value: `^gpt-${tag}$` },
        { dimension: 'api_key', operator: '==', value: key },
      ],
      limits: { rpm: 1 },
    });
    await ok(key, upper);
    await refusedBy(key, lower, ci); // one shared counter (no group_by) for both matches
    await ok(key, other);
    const key2 = rig.key();
    const cs = policy({
      conditions: [
        { dimension: 'model_name', operator: '~~', value: `^GPT-${tag}` },
        { dimension: 'api_key', operator: '==', value: key2 },
      ],
      limits: { rpm: 1 },
    });
    for (let i = 0; i < 3; i++) await ok(key2, lower);
    await ok(key2, upper);
    await refusedBy(key2, upper, cs);
  });

  test('and/or/negate/in on team and provider', async () => {
    const tag = rig.uid('t');
    const model = rig.model();
    const claude = rig.claude();
    // On this test's two models only: applies to keys of team red or blue, unless the provider
    // is anthropic (negated leaf), or to any key whose team is not red/blue/green (negated group).
    const p = policy({
      conditions: [
        { dimension: 'model', operator: 'in', value: [model, claude] },
        {
          logic: 'or',
          children: [
            {
              logic: 'and',
              children: [
                { dimension: 'team', operator: 'in', value: [`red${tag}`, `blue${tag}`] },
                { dimension: 'provider', operator: '==', value: 'anthropic', negate: true },
              ],
            },
            {
              logic: 'or',
              negate: true,
              children: [
                { dimension: 'team', operator: 'in', value: [`red${tag}`, `blue${tag}`, `green${tag}`] },
              ],
            },
          ],
        },
      ],
      group_by: ['api_key'],
      limits: { rpm: 1 },
    });
    const red = rig.key(undefined, { team_id: `red${tag}` });
    await ok(red, model);
    await refusedBy(red, model, p);
    const green = rig.key(undefined, { team_id: `green${tag}` });
    for (let i = 0; i < 3; i++) await ok(green, model);
    const blueOnClaude = rig.key(undefined, { team_id: `blue${tag}` });
    for (let i = 0; i < 3; i++)
      await rig.anthropic(blueOnClaude).messages.create({ model: claude, max_tokens: 5, messages: hello });
    const yellow = rig.key(undefined, { team_id: `yellow${tag}` }); // in the negated group
    await ok(yellow, model);
    await refusedBy(yellow, model, p);
  });

  test('group_by member: one counter per user_id; keys without one are not subject', async () => {
    const model = rig.model();
    const tag = rig.uid('u');
    const p = policy({
      conditions: [{ dimension: 'model', operator: '==', value: model }],
      group_by: ['member'],
      limits: { rpm: 1 },
    });
    const a1 = rig.key(undefined, { user_id: `a${tag}` });
    const a2 = rig.key(undefined, { user_id: `a${tag}` });
    await ok(a1, model);
    await refusedBy(a2, model, p);
    await ok(rig.key(undefined, { user_id: `b${tag}` }), model);
    const anon = rig.key();
    for (let i = 0; i < 3; i++) await ok(anon, model);
  });
});

describe('schedules suspend a policy while now is inside a window', () => {
  const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  const hhmm = (m: number) => {
    const x = ((m % 1440) + 1440) % 1440;
    return `${String(Math.floor(x / 60)).padStart(2, '0')}:${String(x % 60).padStart(2, '0')}`;
  };
  const nowMin = (offset = 0) => {
    const d = new Date();
    return d.getUTCHours() * 60 + d.getUTCMinutes() + offset;
  };
  const day = (deltaDays: number) => new Date(Date.now() + deltaDays * 86_400_000).toISOString().slice(0, 10);
  // Windows a few minutes around now (or well after it): correct across midnight too, since an
  // end earlier than the start crosses midnight and every day (or date) is listed.
  const around = (zone: string, offset: number) => ({
    timezone: zone,
    days_of_week: DAYS,
    start_time: hhmm(nowMin(offset) - 2),
    end_time: hhmm(nowMin(offset) + 3),
  });
  const later = (zone: string, offset: number) => ({
    timezone: zone,
    days_of_week: DAYS,
    start_time: hhmm(nowMin(offset) + 10),
    end_time: hhmm(nowMin(offset) + 20),
  });

  for (const [name, zone, offset] of [
    ['UTC', 'UTC', 0],
    ['Asia/Kolkata (UTC+05:30, no DST)', 'Asia/Kolkata', 330],
  ] as const) {
    test(`${name}: a window covering now suspends it; one that does not, enforces it`, async () => {
      const model = rig.model();
      const k1 = rig.key();
      policy({ ...classic('api_key', k1), schedules: [later(zone, offset), around(zone, offset)] });
      for (let i = 0; i < 3; i++) await ok(k1, model);
      const k2 = rig.key();
      const p2 = policy({
        conditions: [{ dimension: 'api_key', operator: '==', value: k2 }],
        limits: { rpm: 1 },
        schedules: [later(zone, offset)],
      });
      await ok(k2, model);
      await refusedBy(k2, model, p2);
    });
  }

  test('dates form: a window on today (and the days around it) suspends it', async () => {
    const model = rig.model();
    const key = rig.key();
    const w = around('UTC', 0);
    policy({
      ...classic('api_key', key),
      schedules: [
        { timezone: 'UTC', dates: [day(-1), day(0), day(1)], start_time: w.start_time, end_time: w.end_time },
      ],
    });
    for (let i = 0; i < 3; i++) await ok(key, model);
  });
});

describe('layers and their bookkeeping', () => {
  test('OP-9: a policy refusal does not consume the key rpm', async () => {
    const key = rig.key({ rpm: 2 });
    const model = rig.model();
    const p = policy(classic('api_key', key));
    await ok(key, model); // key 1/2, policy 1/1
    await refusedBy(key, model, p);
    await refusedBy(key, model, p);
    rig.removePolicy(p.id);
    const r = await ok(key, model); // key 2/2: the two refusals left no count
    assert.equal(rlHeaders(r.headers)['x-ratelimit-remaining-requests'], '0');
    const last = await refused(rig.client(key).chat.completions.create({ model, messages: hello }));
    assert.deepEqual(last.error, {
      message: 'request limit exceeded (requests)',
      type: 'rate_limit_exceeded',
    });
  });

  test('the tightest of key, model and policy drives the headers', async () => {
    const key = rig.key({ rpm: 10 });
    const model = rig.model({ rpm: 8 });
    policy(classic('model', model, { window: 'minute', max_requests: 4 }));
    const r = await ok(key, model);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '4');
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '3');
  });

  test('aisix_ratelimit_rejections_total{layer="policy",policy_id}', async () => {
    const key = rig.key();
    const model = rig.model();
    const p = policy(classic('api_key', key));
    const tp = policy(classic('model', model, { window: 'minute', max_tokens: 1 }));
    await ok(key, model);
    await refusedBy(key, model, p);
    await refusedBy(key, model, p);
    await refusedBy(rig.key(), model, tp, 'token limit exceeded (tokens)');
    assert.equal(await rig.rejections('requests', 'policy', p.id), 2);
    assert.equal(await rig.rejections('tokens', 'policy', tp.id), 1);
  });
});
