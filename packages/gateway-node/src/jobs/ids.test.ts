/** Gateway-issued job ids: the encoding round trip, strict decoding, the raw-id guard, rewriting. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeId, encodeId, rawIdOk, rewriteIds } from './ids.js';

test('an encoded id is aisix- + unpadded base64url of <raw>;model,<alias> and decodes back', () => {
  const id = encodeId('file-abc123', 'gpt-4o');
  assert.equal(id, `aisix-${Buffer.from('file-abc123;model,gpt-4o').toString('base64url')}`);
  assert.ok(!id.includes('='));
  assert.deepEqual(decodeId(id), { raw: 'file-abc123', alias: 'gpt-4o' });
  // The split is at the last separator, so a raw id may itself contain one.
  assert.deepEqual(decodeId(encodeId('a;model,b', 'm')), { raw: 'a;model,b', alias: 'm' });
  assert.deepEqual(decodeId(encodeId('f', 'ünï/cödé')), { raw: 'f', alias: 'ünï/cödé' });
});

test('anything that is not a strict encoding is a raw provider id', () => {
  const raw = (id: string) => assert.deepEqual(decodeId(id), { raw: id, alias: undefined }, id);
  raw('file-abc');
  raw('aisix-');
  raw(`aisix-${Buffer.from('file-abc;model,m').toString('base64')}=`); // padded
  raw('aisix-***');
  raw(`aisix-${Buffer.from('no separator').toString('base64url')}`);
  raw(`aisix-${Buffer.from(';model,m').toString('base64url')}`); // empty raw half
  raw(`aisix-${Buffer.from('f;model,').toString('base64url')}`); // empty alias half
  raw(`aisix-${Buffer.from([0x66, 0x3b, 0xff, 0xfe]).toString('base64url')}`); // not UTF-8
  // A non-canonical encoding (trailing bits set) is not ours.
  const canon = Buffer.from('f;model,ab').toString('base64url');
  const last = canon[canon.length - 1] as string;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const other = alphabet[(alphabet.indexOf(last) + 1) % 64] as string;
  raw(`aisix-${canon.slice(0, -1)}${other}`);
});

test('raw ids: 1-256 of [A-Za-z0-9-_.:], never . or ..', () => {
  for (const ok of ['file-abc', 'batch_1', 'ftjob-x.y', 'a:b', 'x'.repeat(256)]) assert.ok(rawIdOk(ok), ok);
  for (const bad of ['', '.', '..', 'a/b', 'a b', 'a%2Fb', 'a?b', 'x'.repeat(257), 'é'])
    assert.ok(!rawIdOk(bad), bad);
});

test('rewriting encodes the id fields and result_files of a JSON object, nothing else', () => {
  const out = rewriteIds(
    JSON.stringify({
      id: 'batch_1',
      object: 'batch',
      input_file_id: 'file-in',
      output_file_id: 'file-out',
      error_file_id: '',
      training_file: encodeId('file-t', 'm'),
      validation_file: null,
      result_files: ['file-r', 7],
      nested: { id: 'kept' },
    }),
    'm',
  );
  assert.ok(out);
  const doc = JSON.parse(out) as Record<string, unknown>;
  assert.equal(doc.id, encodeId('batch_1', 'm'));
  assert.equal(doc.input_file_id, encodeId('file-in', 'm'));
  assert.equal(doc.output_file_id, encodeId('file-out', 'm'));
  assert.equal(doc.error_file_id, '');
  assert.equal(doc.training_file, encodeId('file-t', 'm'));
  assert.equal(doc.validation_file, null);
  assert.deepEqual(doc.result_files, [encodeId('file-r', 'm'), 7]);
  assert.deepEqual(doc.nested, { id: 'kept' });
  assert.equal(rewriteIds('not json', 'm'), undefined);
  assert.equal(rewriteIds('[{"id":"x"}]', 'm'), undefined);
  assert.equal(rewriteIds('{"object":"list"}', 'm'), undefined);
});
