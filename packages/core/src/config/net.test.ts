/** Socket address and CIDR parsing. */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${...}` here is config text under test, not a template.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCidrOrIp, isIPv6, parseSocketAddr } from './net.js';
import { parseRewriteTemplate } from './rewrites.js';

describe('parseSocketAddr', () => {
  it('parses IPv4 and bracketed IPv6 literals', () => {
    assert.deepEqual(parseSocketAddr('0.0.0.0:3000'), { host: '0.0.0.0', port: 3000 });
    assert.deepEqual(parseSocketAddr('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseSocketAddr('[::1]:3001'), { host: '::1', port: 3001 });
    assert.deepEqual(parseSocketAddr('[::ffff:10.0.0.1]:80'), { host: '::ffff:10.0.0.1', port: 80 });
    assert.deepEqual(parseSocketAddr('[2001:db8:0:0:0:0:0:1]:65535'), {
      host: '2001:db8:0:0:0:0:0:1',
      port: 65535,
    });
  });
  it('rejects host names, missing ports and bad literals', () => {
    for (const s of [
      'localhost:3000',
      '0.0.0.0',
      ':3000',
      '256.0.0.1:80',
      '01.2.3.4:80',
      '1.2.3.4:65536',
      '1.2.3.4:-1',
      '1.2.3.4:',
      '::1:80',
      '[::1]',
      '[::1]80',
      '[1::2::3]:80',
      '[localhost]:80',
      ' 1.2.3.4:80',
    ]) {
      assert.equal(parseSocketAddr(s), null, s);
    }
  });
});

describe('isIPv6', () => {
  it('accepts compressed and full forms, rejects too many groups', () => {
    assert.ok(isIPv6('::'));
    assert.ok(isIPv6('fe80::1'));
    assert.ok(isIPv6('1:2:3:4:5:6:7:8'));
    assert.ok(isIPv6('1:2:3:4:5:6:1.2.3.4'));
    assert.ok(!isIPv6('1:2:3:4:5:6:7:8:9'));
    assert.ok(!isIPv6('1:2:3:4:5:6:7'));
    assert.ok(!isIPv6('1::2:3:4:5:6:7:8'));
    assert.ok(!isIPv6('12345::1'));
  });
});

describe('isCidrOrIp', () => {
  it('accepts CIDRs and bare IPs', () => {
    for (const s of ['10.0.0.0/8', '0.0.0.0/0', '1.2.3.4', '::1', 'fd00::/8', '::/128'])
      assert.ok(isCidrOrIp(s), s);
  });
  it('rejects bad prefixes and names', () => {
    for (const s of ['10.0.0.0/33', '::/129', '10.0.0.0/', 'host/8', 'a.b.c.d', '10.0.0.0/8/8']) {
      assert.ok(!isCidrOrIp(s), s);
    }
  });
});

describe('parseRewriteTemplate', () => {
  it('splits literals and references', () => {
    assert.deepEqual(parseRewriteTemplate('/a/$1/${name}/$$/$x_y-z'), [
      { lit: '/a/' },
      { group: '1' },
      { lit: '/' },
      { group: 'name' },
      { lit: '/$/' },
      { group: 'x_y' },
      { lit: '-z' },
    ]);
    assert.deepEqual(parseRewriteTemplate('/$-'), [{ lit: '/$-' }]);
  });
});
