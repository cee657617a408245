/**
 * Malformed `observability_exporters` over real HTTP (control-plane §3.9, §4.2): a bad endpoint
 * scheme, a missing `credential_ref`, an out-of-range `sample_rate` and friends each get 400 with
 * `schema validation failed at <pointer>: ...` naming the field, nothing is stored, and no
 * submitted value is echoed. A valid exporter of each delivered kind is accepted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminOnStore, arr, embeddedStoreFactory, obj } from './testing/harness.js';

const LEAK = 'LEAKME';
const s = adminOnStore(embeddedStoreFactory);

const otlp = { name: 'otel', kind: 'otlp_http', endpoint: 'https://collector.example.com' };
const dd = { name: 'dd', kind: 'datadog', site: 'datadoghq.eu', service: 'gw', credential_ref: 'prod' };

const CASES: { label: string; doc: Record<string, unknown>; pointer: string; mentions?: string }[] = [
  {
    label: 'plain http to a remote host',
    doc: { ...otlp, endpoint: `http://${LEAK}.example.com` },
    pointer: '/endpoint',
  },
  { label: 'not a URL', doc: { ...otlp, endpoint: `ftp://${LEAK}` }, pointer: '/endpoint' },
  { label: 'sample_rate above 1', doc: { ...otlp, sample_rate: 1.5 }, pointer: '/sample_rate' },
  { label: 'sample_rate negative', doc: { ...otlp, sample_rate: -0.1 }, pointer: '/sample_rate' },
  { label: 'content_mode unknown', doc: { ...otlp, content_mode: LEAK }, pointer: '/content_mode' },
  {
    label: 'datadog without credential_ref',
    doc: { name: 'dd', kind: 'datadog', site: 'datadoghq.eu', service: 'gw' },
    pointer: '',
    mentions: 'credential_ref',
  },
  { label: 'datadog unknown site', doc: { ...dd, site: `${LEAK}.example.com` }, pointer: '/site' },
  {
    label: 'a field of another kind',
    doc: { ...otlp, credential_ref: LEAK },
    pointer: '',
    mentions: 'credential_ref',
  },
];

describe('observability_exporters: bad documents get 400 naming the field', () => {
  for (const c of CASES) {
    it(c.label, async () => {
      const r = await s.admin.call('POST', '/admin/v1/observability_exporters', { body: c.doc });
      assert.equal(r.status, 400, r.text);
      const msg = String(obj(r.json).error_msg);
      assert.ok(msg.startsWith(`schema validation failed at ${c.pointer === '' ? '' : c.pointer}`), msg);
      if (c.pointer !== '') assert.match(msg, new RegExp(`^schema validation failed at ${c.pointer}:`));
      if (c.mentions) assert.match(msg, new RegExp(c.mentions));
      assert.ok(!r.text.includes(LEAK), `no echo: ${r.text}`);
    });
  }

  it('nothing was stored; valid exporters of the delivered kinds are accepted', async () => {
    const list = await s.admin.call('GET', '/admin/v1/observability_exporters');
    assert.equal(arr(list.json).length, 0);
    for (const doc of [
      otlp,
      { ...otlp, name: 'local', endpoint: 'http://127.0.0.1:4318', sample_rate: 0.5 },
      dd,
    ]) {
      const r = await s.admin.call('POST', '/admin/v1/observability_exporters', { body: doc });
      assert.equal(r.status, 200, r.text);
    }
  });
});
