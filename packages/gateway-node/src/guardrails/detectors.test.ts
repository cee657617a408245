import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskPieces } from './chain.js';
import { compileGuardrail } from './compile.js';
import {
  BUILTIN_DETECTORS,
  type BuiltinDetector,
  chinaIdChecksum,
  findBuiltin,
  luhn,
  redactionToken,
} from './detectors.js';

const found = (d: BuiltinDetector, text: string) =>
  findBuiltin(d, text).map((s) => text.slice(s.start, s.end));

test('luhn accepts valid card numbers and rejects a changed digit', () => {
  assert.equal(luhn('4111111111111111'), true);
  assert.equal(luhn('4111111111111112'), false);
  assert.equal(luhn('378282246310005'), true);
});

test('bank_card: 13-19 digits with a valid Luhn check, grouped or contiguous', () => {
  assert.deepEqual(found('bank_card', 'card 4111111111111111 ok'), ['4111111111111111']);
  assert.deepEqual(found('bank_card', 'card 4111 1111 1111 1111.'), ['4111 1111 1111 1111']);
  assert.deepEqual(found('bank_card', 'amex 3782-822463-10005'), ['3782-822463-10005']);
  assert.deepEqual(found('bank_card', 'order 4111111111111112'), []);
  assert.deepEqual(found('bank_card', 'id 12345678901234567890123'), []);
});

test('china_id_card: ISO 7064 MOD 11-2 check character (X included)', () => {
  assert.equal(chinaIdChecksum('11010519491231002X'), true);
  assert.equal(chinaIdChecksum('110105194912310021'), false);
  assert.deepEqual(found('china_id_card', 'id 11010519491231002X here'), ['11010519491231002X']);
  assert.deepEqual(found('china_id_card', 'id 110105194912310021 here'), []);
});

test('the other built-in detectors', () => {
  assert.deepEqual(found('email', 'write to a.b+c@mail.example.com, thanks'), ['a.b+c@mail.example.com']);
  assert.deepEqual(found('china_mobile', 'call 13812345678 or 12812345678 or 138123456789'), ['13812345678']);
  assert.deepEqual(found('us_ssn', 'ssn 123-45-6789 not 123-45-67890'), ['123-45-6789']);
  assert.deepEqual(found('ip_address', 'hosts 10.0.0.255 and 999.1.1.1 and 1.2.3'), ['10.0.0.255']);
  assert.deepEqual(found('api_key', 'key sk-abcdefghijklmnopqrstuvwx1234 and AKIAABCDEFGHIJKLMNOP'), [
    'sk-abcdefghijklmnopqrstuvwx1234',
    'AKIAABCDEFGHIJKLMNOP',
  ]);
  assert.deepEqual(found('api_key', `gh token ghp_${'a'.repeat(36)} slack xoxb-1234567890-abc`), [
    `ghp_${'a'.repeat(36)}`,
    'xoxb-1234567890-abc',
  ]);
  assert.deepEqual(found('api_key', `google AIza${'B'.repeat(35)}`), [`AIza${'B'.repeat(35)}`]);
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig_nature-1';
  assert.deepEqual(found('jwt', `bearer ${jwt}`), [jwt]);
  const pem = '-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----';
  assert.deepEqual(found('private_key', `key:\n${pem}\nbye`), [pem]);
  assert.deepEqual(found('private_key', '-----BEGIN PRIVATE KEY-----\nno end'), []);
});

test('built-in detectors stay linear on adversarial input', () => {
  const inputs = ['a'.repeat(200_000), '1'.repeat(200_000), 'eyJ'.repeat(70_000), '1.'.repeat(100_000)];
  const t0 = performance.now();
  for (const s of inputs) {
    for (const d of ['email', 'bank_card', 'jwt', 'ip_address', 'api_key', 'china_id_card'] as const)
      findBuiltin(d, s);
  }
  assert.ok(performance.now() - t0 < 5000, `took ${performance.now() - t0} ms`);
});

test('redaction token: upper-cased name, non-alphanumerics as _', () => {
  assert.equal(redactionToken('email'), '[EMAIL_REDACTED]');
  assert.equal(redactionToken('employee-id.v2'), '[EMPLOYEE_ID_V2_REDACTED]');
});

test('a span across pieces becomes one token in the piece where it starts', () => {
  const pieces = ['mail me at jo', 'hn@exam', 'ple.com', ' now'];
  const text = pieces.join('');
  const start = text.indexOf('john');
  const end = text.indexOf(' now');
  const out = maskPieces(pieces, 0, [{ start, end, token: '[EMAIL_REDACTED]' }]);
  assert.deepEqual(out, ['mail me at [EMAIL_REDACTED]', '', '', ' now']);
  assert.equal(out.join(''), 'mail me at [EMAIL_REDACTED] now');
});

test('a keyword regex that backtracks catastrophically in V8 runs in linear time (re2js)', () => {
  const g = compileGuardrail('g1', {
    name: 'redos',
    kind: 'keyword',
    patterns: [{ kind: 'regex', value: '(a+)+$' }],
    enabled: true,
    hook_point: 'both',
    fail_open: true,
    enforcement_mode: 'block',
    mandatory: false,
    direction: 'both',
  });
  assert.ok(g);
  const t0 = performance.now();
  assert.equal(g.scan?.(`${'a'.repeat(30_000)}!`).length, 0);
  // A backtracking engine would not finish this in any bound; RE2 takes one linear pass.
  assert.ok(performance.now() - t0 < 5000);
});

test('the prefilter never hides a match: every detector finds the same with and without it', () => {
  // Texts dense in what the detectors look for: digits, separators, literal starts, near misses.
  const atoms = [
    '0',
    '1',
    '3',
    '7',
    '9',
    '13',
    '4111',
    '1111',
    '-',
    ' ',
    '.',
    '@',
    'a',
    'Z',
    'x',
    'X',
    '_',
    '\n',
    'sk-',
    'sk-proj-',
    'AKIA',
    'ghp_',
    'gho_',
    'github_pat_',
    'xoxb-',
    'AIza',
    'eyJ',
    'eyJhbGci.',
    '-----BEGIN ',
    'RSA ',
    'PRIVATE KEY-----',
    '-----END ',
    'mail.example.com',
    'a.b+c',
    '10.0.0.',
    '255',
    '138',
    '123-45-',
    '6789',
    '11010519491231002X',
    '4111 1111 1111 1111',
    '3782-822463-10005',
  ];
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const pad = (n: number, s: string) => s.repeat(n);
  const fixed = [
    'write to a.b+c@mail.example.com',
    'call 13812345678',
    'id 11010519491231002X',
    `ghp_${pad(36, 'a')}`,
    'card 4111 1111 1111 1111.',
    'ssn 123-45-6789',
    'hosts 10.0.0.255',
    `AIza${pad(35, 'B')}`,
    'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig',
    '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----',
  ];
  const texts = [...fixed];
  for (let i = 0; i < 3000; i++) {
    let t = '';
    const n = 1 + rand(40);
    for (let j = 0; j < n; j++) t += atoms[rand(atoms.length)];
    if (rand(4) === 0) t += fixed[rand(fixed.length)];
    texts.push(t);
  }
  let matched = 0;
  for (const text of texts) {
    for (const d of BUILTIN_DETECTORS) {
      const plain = findBuiltin(d, text, null);
      assert.deepEqual(findBuiltin(d, text), plain, `${d} on ${JSON.stringify(text)}`);
      matched += plain.length;
    }
  }
  assert.ok(matched > 1000, `the texts exercise the detectors (${matched} matches)`);
});
