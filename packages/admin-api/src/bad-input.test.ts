/**
 * Bad requests: each gets its documented status and the JSON envelope, nothing reaches the
 * store, and the server keeps serving afterwards. One provider key exists from the start so
 * PUTs on an existing id can be checked to leave it untouched.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { KIND_NAMES } from '@aisix/core';
import { ADMIN_KEY, adminOnStore, embeddedStoreFactory, obj } from './testing/harness.js';

const SECRET = 'sk-upstream-LEAKME-4242';
let pkId = '';
let pkRevision = 0;

const s = adminOnStore(embeddedStoreFactory, {}, async () => {
  const r = await s.admin.call('POST', '/admin/v1/provider_keys', {
    body: { display_name: 'base', api_key: SECRET, provider: 'openai' },
  });
  assert.equal(r.status, 200, r.text);
  pkId = String(obj(r.json).id);
  pkRevision = Number(obj(r.json).revision);
});

function assertError(
  r: { status: number; json: unknown; text: string },
  status: number,
  msg?: string | RegExp,
): void {
  assert.equal(r.status, status, r.text);
  const body = obj(r.json);
  assert.deepEqual(Object.keys(body), ['error_msg'], r.text);
  assert.equal(typeof body.error_msg, 'string');
  if (typeof msg === 'string') assert.equal(body.error_msg, msg);
  else if (msg) assert.match(String(body.error_msg), msg);
  assert.ok(!r.text.includes(SECRET), 'no echo of the secret');
  assert.ok(!r.text.includes('LEAKME'), 'no echo of the body');
}

const UNAUTH = 'missing or malformed admin authorization';

describe('authentication', () => {
  it('missing, wrong, malformed and wrong-scheme keys get 401', async () => {
    assertError(await s.admin.call('GET', '/admin/v1/models', { key: null }), 401, UNAUTH);
    assertError(await s.admin.call('GET', '/admin/v1/models', { key: 'nope' }), 401, UNAUTH);
    assertError(await s.admin.call('GET', '/admin/v1/models', { key: `${ADMIN_KEY}x` }), 401, UNAUTH);
    const variants: Record<string, string>[] = [
      { authorization: `bearer ${ADMIN_KEY}` },
      { authorization: 'Bearer ' },
      { authorization: ADMIN_KEY },
      // Another scheme is a failure, even with a valid x-api-key next to it.
      { authorization: 'Basic Zm9vOmJhcg==', 'x-api-key': ADMIN_KEY },
      { 'x-api-key': 'wrong' },
    ];
    for (const headers of variants)
      assertError(await s.admin.call('GET', '/admin/v1/models', { key: null, headers }), 401, UNAUTH);
    const ok = await s.admin.call('GET', '/admin/v1/models', {
      key: null,
      headers: { 'x-api-key': ADMIN_KEY },
    });
    assert.equal(ok.status, 200);
  });

  it('auth is checked before the body is parsed', async () => {
    const r = await s.admin.call('POST', '/admin/v1/models', {
      key: null,
      raw: '{not json',
      headers: { 'content-type': 'application/json' },
    });
    assertError(r, 401, UNAUTH);
    assertError(
      await s.admin.call('POST', '/admin/v1/models', {
        key: null,
        raw: 'x',
        headers: { 'content-type': 'text/plain' },
      }),
      401,
    );
  });
});

describe('bodies', () => {
  it('malformed JSON -> 400 without echo', async () => {
    const r = await s.admin.call('POST', '/admin/v1/provider_keys', {
      raw: `{"display_name":"x","api_key":"${SECRET}"`,
      headers: { 'content-type': 'application/json' },
    });
    assertError(r, 400, 'request body is not valid JSON');
    assertError(
      await s.admin.call('POST', '/admin/v1/models', {
        raw: '',
        headers: { 'content-type': 'application/json' },
      }),
      400,
    );
  });

  it('wrong or missing content type -> 415', async () => {
    const body = JSON.stringify({ display_name: 'x', api_key: SECRET });
    assertError(
      await s.admin.call('POST', '/admin/v1/provider_keys', {
        raw: body,
        headers: { 'content-type': 'text/plain' },
      }),
      415,
    );
    assertError(await s.admin.call('POST', '/admin/v1/provider_keys', { raw: body }), 415);
    assertError(
      await s.admin.call('PUT', `/admin/v1/provider_keys/${pkId}`, {
        raw: body,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      415,
    );
    // A JSON Patch is not a merge patch; a compressed body is not read.
    assertError(
      await s.admin.call('PATCH', `/admin/v1/provider_keys/${pkId}`, {
        raw: JSON.stringify([{ op: 'replace', path: '/display_name', value: 'y' }]),
        headers: { 'content-type': 'application/json-patch+json' },
      }),
      415,
    );
    assertError(
      await s.admin.call('POST', '/admin/v1/provider_keys', {
        raw: body,
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      }),
      415,
    );
  });

  it('oversize body -> 413, with and without Content-Length', async () => {
    const big = JSON.stringify({ display_name: 'x', api_key: 'a'.repeat(3 * 1024 * 1024) });
    assertError(
      await s.admin.call('POST', '/admin/v1/provider_keys', {
        raw: big,
        headers: { 'content-type': 'application/json' },
      }),
      413,
    );
    // Chunked upload: the limit is enforced while reading.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        `${s.admin.base}/admin/v1/provider_keys`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => {
            text += d.toString();
          });
          res.on('end', () => {
            assert.deepEqual(Object.keys(JSON.parse(text)), ['error_msg']);
            resolve(res.statusCode ?? 0);
          });
        },
      );
      req.on('error', reject);
      const chunk = 'a'.repeat(256 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < 12) {
          sent++;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      req.write('{"display_name":"x","api_key":"');
      pump();
    }).catch((err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' || err.code === 'EPIPE' ? 413 : Promise.reject(err),
    );
    assert.equal(status, 413);
  });

  it('unknown fields, wrong types and out-of-range values -> 400 naming the field', async () => {
    const unknown = await s.admin.call('POST', '/admin/v1/provider_keys', {
      body: { display_name: 'u', api_key: SECRET, provider: 'openai', bogus_field: 'LEAKME' },
    });
    assertError(unknown, 400, /bogus_field/);
    const wrongType = await s.admin.call('POST', '/admin/v1/provider_keys', {
      body: { display_name: 5, api_key: SECRET },
    });
    assertError(wrongType, 400, /display_name/);
    const range = await s.admin.call('POST', '/admin/v1/models', {
      body: {
        display_name: 'm',
        provider: 'openai',
        model_name: 'x',
        provider_key_id: pkId,
        rate_limit: { rpm: -1 },
      },
    });
    assertError(range, 400, /rate_limit\/rpm/);
    const notObject = await s.admin.call('POST', '/admin/v1/models', { body: ['LEAKME'] });
    assertError(notObject, 400);
    const badHash = await s.admin.call('POST', '/admin/v1/api_keys', {
      body: { key_hash: 'LEAKME', allowed_models: [] },
    });
    assertError(badHash, 400, /key_hash/);
    const putBad = await s.admin.call('PUT', `/admin/v1/provider_keys/${pkId}`, {
      body: { display_name: '', api_key: SECRET },
    });
    assertError(putBad, 400);
  });

  it('a body nested thousands of levels deep -> 400 at its pointer (POST, PUT, PATCH), not a 500', async () => {
    const deep = (n: number, leaf: string): string => `${'{"a":['.repeat(n)}${leaf}${']}'.repeat(n)}`;
    const json = { 'content-type': 'application/json' };
    // 130 levels: past serde_json's limit (the reference's); 3000: past what a structured clone survives.
    for (const n of [130, 3000]) {
      const pk = `{"display_name":"deep","provider":"openai","api_key":"${SECRET}","extra":${deep(n, '"LEAKME"')}}`;
      for (const [method, path] of [
        ['POST', '/admin/v1/provider_keys'],
        ['PUT', `/admin/v1/provider_keys/${pkId}`],
        ['PATCH', `/admin/v1/provider_keys/${pkId}`],
      ] as const) {
        const r = await s.admin.call(method, path, { raw: pk, headers: json });
        assertError(r, 400, /^schema validation failed at \/extra(\/a|\/0)+: nested deeper than 128 levels$/);
      }
      // An open root (guardrails keep unknown fields out of the stored value) is refused too.
      const g = await s.admin.call('POST', '/admin/v1/guardrails', {
        raw: `{"name":"deep","kind":"keyword","patterns":[],"zz":${deep(n, '1')}}`,
        headers: json,
      });
      assertError(g, 400, /^schema validation failed at \/zz\//);
    }
    // 128 levels are still read (and judged by the schema as usual).
    const ok = await s.admin.call('PATCH', `/admin/v1/provider_keys/${pkId}`, {
      raw: `{"extra":${'{"a":'.repeat(127)}1${'}'.repeat(127)}}`,
      headers: json,
    });
    assertError(ok, 400, /^schema validation failed at : unknown field "extra"/);
  });

  it('a number beyond the float range (1e400) -> 400, never stored as null', async () => {
    const json = { 'content-type': 'application/json' };
    // JSON has no Infinity, but 1e400 parses to it: refused, never stored as null (a document
    // the loader would then reject, and that no later PATCH could fix).
    for (const n of ['1e400', '-1e400']) {
      const inf = await s.admin.call('PATCH', `/admin/v1/provider_keys/${pkId}`, {
        raw: `{"request":{"param_constraints":{"temperature_min":${n}}}}`,
        headers: json,
      });
      assertError(
        inf,
        400,
        'schema validation failed at /request/param_constraints/temperature_min: must be a finite number',
      );
      const created = await s.admin.call('POST', '/admin/v1/provider_keys', {
        raw: `{"display_name":"inf","provider":"openai","api_key":"${SECRET}","request":{"param_constraints":{"temperature_max":${n}}}}`,
        headers: json,
      });
      assertError(
        created,
        400,
        /^schema validation failed at \/request\/param_constraints\/temperature_max: /,
      );
    }
  });
});

describe('routes and ids', () => {
  it('unknown kind path -> 404 JSON; wrong method -> 405 JSON', async () => {
    assertError(await s.admin.call('GET', '/admin/v1/widgets'), 404);
    assertError(await s.admin.call('POST', '/admin/v1/widgets', { body: {} }), 404);
    assertError(await s.admin.call('GET', '/admin/v1/widgets/abc'), 404);
    assertError(await s.admin.call('GET', '/nowhere', { key: null }), 404);
    const patch = await s.admin.call('PATCH', '/admin/v1/models', { body: {} });
    assertError(patch, 405);
    assert.match(patch.headers.get('allow') ?? '', /POST/);
    const post = await s.admin.call('POST', `/admin/v1/models/${pkId}`, { body: {} });
    assertError(post, 405);
    assert.match(post.headers.get('allow') ?? '', /PUT, PATCH/);
    assertError(await s.admin.call('DELETE', '/admin/v1/models'), 405);
    assertError(await s.admin.call('POST', '/livez', { key: null }), 405);
  });

  it('traversal and malformed ids -> 400 and never reach the store', async () => {
    for (const id of [
      '..%2F..%2Fapi_keys',
      '..%2Fprovider_keys%2F' + pkId,
      '%2e%2e%2Fx',
      'a%00b',
      'a%2F..%2Fb',
      'a%7Fb',
    ]) {
      assertError(await s.admin.call('GET', `/admin/v1/provider_keys/${id}`), 400, 'invalid resource id');
      assertError(await s.admin.call('DELETE', `/admin/v1/provider_keys/${id}`), 400, 'invalid resource id');
      assertError(
        await s.admin.call('PUT', `/admin/v1/provider_keys/${id}`, {
          body: { display_name: 'x', api_key: 'y' },
        }),
        400,
      );
    }
  });

  it('PUT, DELETE, GET on a missing id -> 404', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    assertError(
      await s.admin.call('PUT', `/admin/v1/provider_keys/${missing}`, {
        body: { display_name: 'n', api_key: 'k' },
      }),
      404,
      'resource not found',
    );
    assertError(await s.admin.call('DELETE', `/admin/v1/models/${missing}`), 404, 'resource not found');
    assertError(
      await s.admin.call('GET', `/admin/v1/rate_limit_policies/${missing}`),
      404,
      'resource not found',
    );
  });

  it('nothing was written and the server keeps serving', async () => {
    for (const kind of KIND_NAMES) {
      assert.equal(await s.h.rawCount(kind), kind === 'provider_keys' ? 1 : 0, kind);
    }
    const stored = await s.h.store.get('provider_keys', pkId);
    assert.equal(stored?.revision, pkRevision);
    assert.equal(stored?.value.display_name, 'base');
    const r = await s.admin.call('GET', '/admin/v1/provider_keys');
    assert.equal(r.status, 200);
  });
});
