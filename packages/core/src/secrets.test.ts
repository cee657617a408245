import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kindByName } from './kinds.js';
import {
  generateApiKey,
  hashApiKey,
  introducedMask,
  isMaskedSecret,
  maskSecret,
  maskSecrets,
  mergeSecretsForReplace,
  nulledSecrets,
  resolvePatchSecrets,
} from './secrets.js';

describe('hashApiKey / generateApiKey', () => {
  test('SHA-256 test vector', () => {
    assert.equal(
      hashApiKey('sk-my-api-key-123'),
      '91ed2dbc407561556f3e7be98ba0bd2a57986d6a868c482d867d19c6d40d201c',
    );
  });
  test('generated keys are sk- + 32 lowercase hex and distinct', () => {
    const a = generateApiKey();
    const b = generateApiKey();
    assert.match(a, /^sk-[0-9a-f]{32}$/);
    assert.notEqual(a, b);
    assert.match(hashApiKey(a), /^[0-9a-f]{64}$/);
  });
});

describe('maskSecrets', () => {
  test('provider key api_key keeps a 4-character hint; input is not mutated', () => {
    const stored = { display_name: 'p', api_key: 'sk-live-0123456789ab12' };
    const masked = maskSecrets('provider_keys', stored);
    assert.equal(masked.api_key, '****ab12');
    assert.equal(masked.display_name, 'p');
    assert.equal(stored.api_key, 'sk-live-0123456789ab12');
  });
  test('short secrets are fully masked', () => {
    assert.equal(maskSecret('abc'), '****');
    assert.equal(maskSecrets('mcp_servers', { name: 'x', secret: 'short' }).secret, '****');
  });
  test('secret alias written directly to etcd is masked too', () => {
    assert.equal(maskSecrets('provider_keys', { secret: 'sk-aaaaaaaaaaaaaaaa9999' }).secret, '****9999');
  });
  test('nested guardrail credentials are masked', () => {
    const doc = {
      kind: 'bedrock',
      aws_credentials: {
        kind: 'static',
        access_key_id: 'AKIAEXAMPLE',
        secret_access_key: 'wJalrXUtnFEMI/K7MDENG',
      },
    };
    const masked = maskSecrets('guardrails', doc) as { aws_credentials: Record<string, string> };
    assert.equal(masked.aws_credentials.secret_access_key, '****DENG');
    assert.equal(masked.aws_credentials.access_key_id, 'AKIAEXAMPLE');
    assert.equal(
      maskSecrets('guardrails', { access_key_secret: 'aliyun-secret-000111' }).access_key_secret,
      '****0111',
    );
  });
  test('exporter header values are masked, names kept', () => {
    const masked = maskSecrets('observability_exporters', {
      headers: { authorization: 'Bearer abcdefghijkl1234' },
    });
    assert.deepEqual(masked.headers, { authorization: '****1234' });
  });
  test('kinds without secrets are copied unchanged; KindDef accepted', () => {
    const def = kindByName('models');
    assert.ok(def);
    const doc = { display_name: 'm', routing: { targets: [{ model: 'a' }] } };
    assert.deepEqual(maskSecrets(def, doc), doc);
  });
  test('a secret that is not a string is masked entirely, whatever its type', () => {
    for (const v of [12345678901234, true, { k: 'sk-nested-000011112222' }, ['sk-in-an-array-00001111']]) {
      assert.equal(maskSecrets('provider_keys', { api_key: v }).api_key, '****', JSON.stringify(v));
      assert.equal(maskSecrets('provider_keys', { secret: v }).secret, '****', JSON.stringify(v));
      const g = maskSecrets('guardrails', { aws_credentials: { secret_access_key: v } }) as {
        aws_credentials: Record<string, unknown>;
      };
      assert.equal(g.aws_credentials.secret_access_key, '****', JSON.stringify(v));
      const e = maskSecrets('observability_exporters', { headers: { a: v, b: 'Bearer abcdefghijkl1234' } });
      assert.deepEqual(e.headers, { a: '****', b: '****1234' }, JSON.stringify(v));
    }
    // A secret map that is not a map, or a parent of a secret that is not an object, may still
    // hold the secret: masked whole.
    assert.equal(maskSecrets('observability_exporters', { headers: ['Bearer abc'] }).headers, '****');
    assert.equal(
      maskSecrets('guardrails', { aws_credentials: 'AKIA:wJalrXUtnFEMI' }).aws_credentials,
      '****',
    );
    // null holds nothing: shown as is (an absent field stays absent).
    assert.equal(maskSecrets('provider_keys', { api_key: null }).api_key, null);
    assert.ok(!('api_key' in maskSecrets('provider_keys', { display_name: 'p' })));
  });
  test('isMaskedSecret', () => {
    assert.ok(isMaskedSecret('****'));
    assert.ok(isMaskedSecret('****ab12'));
    assert.ok(!isMaskedSecret('sk-real-key'));
    assert.ok(!isMaskedSecret('****abcdef'));
    assert.ok(!isMaskedSecret(undefined));
  });
});

describe('mergeSecretsForReplace', () => {
  const stored = { display_name: 'p', api_key: 'sk-stored-credential-0001' };
  test('omitted secret keeps the stored one', () => {
    assert.equal(
      mergeSecretsForReplace('provider_keys', { display_name: 'p2' }, stored).api_key,
      stored.api_key,
    );
  });
  test('masked value sent back keeps the stored one', () => {
    const masked = maskSecrets('provider_keys', stored);
    assert.equal(mergeSecretsForReplace('provider_keys', masked, stored).api_key, stored.api_key);
  });
  test('new plaintext replaces the stored one', () => {
    assert.equal(
      mergeSecretsForReplace('provider_keys', { api_key: 'sk-new-000000000000' }, stored).api_key,
      'sk-new-000000000000',
    );
  });
  test('masked value under the alias becomes the stored api_key', () => {
    const out = mergeSecretsForReplace('provider_keys', { display_name: 'p', secret: '****0001' }, stored);
    assert.equal(out.api_key, stored.api_key);
    assert.ok(!('secret' in out));
  });
  test('new plaintext under the alias is left for validation', () => {
    const out = mergeSecretsForReplace(
      'provider_keys',
      { display_name: 'p', secret: 'sk-rotated-11112222' },
      stored,
    );
    assert.equal(out.secret, 'sk-rotated-11112222');
    assert.ok(!('api_key' in out));
  });
  test('stored alias (direct etcd write) is restored under api_key', () => {
    const out = mergeSecretsForReplace(
      'provider_keys',
      { display_name: 'p' },
      { display_name: 'p', secret: 'sk-x-123412341234' },
    );
    assert.equal(out.api_key, 'sk-x-123412341234');
  });
  test('guardrail of another kind does not inherit a credential', () => {
    const out = mergeSecretsForReplace(
      'guardrails',
      { name: 'g', kind: 'openai_moderation' },
      { name: 'g', kind: 'lakera', api_key: 'lk-0000000000000' },
    );
    assert.ok(!('api_key' in out));
  });
  test('same guardrail kind keeps nested credential when masked', () => {
    const storedG = {
      kind: 'bedrock',
      aws_credentials: { kind: 'static', access_key_id: 'a', secret_access_key: 'secret-secret-9876' },
    };
    const incoming = maskSecrets('guardrails', storedG);
    const out = mergeSecretsForReplace('guardrails', incoming, storedG) as {
      aws_credentials: Record<string, string>;
    };
    assert.equal(out.aws_credentials.secret_access_key, 'secret-secret-9876');
  });
  test('masked header restored, omitted header dropped', () => {
    const storedE = { kind: 'otlp_http', headers: { a: 'value-aaaaaaaaaaaa', b: 'value-bbbbbbbbbbbb' } };
    const out = mergeSecretsForReplace(
      'observability_exporters',
      { kind: 'otlp_http', headers: { a: '****aaaa' } },
      storedE,
    );
    assert.deepEqual(out.headers, { a: 'value-aaaaaaaaaaaa' });
  });
  test('a stored secret that is not a string is kept as stored, never replaced by the mask', () => {
    const storedN = { display_name: 'p', api_key: 12345678901234 };
    assert.equal(
      mergeSecretsForReplace('provider_keys', { api_key: '****' }, storedN).api_key,
      12345678901234,
    );
    assert.equal(
      mergeSecretsForReplace('provider_keys', { display_name: 'p' }, storedN).api_key,
      12345678901234,
    );
    const out = mergeSecretsForReplace(
      'observability_exporters',
      { headers: { a: '****' } },
      { headers: { a: 42 } },
    );
    assert.deepEqual(out.headers, { a: 42 });
  });
  test('incoming document is not mutated', () => {
    const incoming = { display_name: 'p', secret: '****0001' };
    mergeSecretsForReplace('provider_keys', incoming, stored);
    assert.deepEqual(incoming, { display_name: 'p', secret: '****0001' });
  });
});

describe('introducedMask', () => {
  test('a mask with no stored secret behind it is named by its pointer', () => {
    assert.equal(introducedMask('provider_keys', { api_key: '****9876' }, {}), '/api_key');
    assert.equal(introducedMask('provider_keys', { secret: '****' }, {}), '/secret');
    assert.equal(
      introducedMask(
        'guardrails',
        { kind: 'bedrock', aws_credentials: { secret_access_key: '****' } },
        { kind: 'bedrock' },
      ),
      '/aws_credentials/secret_access_key',
    );
    assert.equal(
      introducedMask('observability_exporters', { headers: { 'x/y': '****' } }, {}),
      '/headers/x~1y',
    );
  });
  test('a switch of kind counts nothing stored, even an identical value', () => {
    const stored = { kind: 'lakera', api_key: '****9876' };
    assert.equal(introducedMask('guardrails', { kind: 'lakera', api_key: '****9876' }, stored), undefined);
    assert.equal(
      introducedMask('guardrails', { kind: 'openai_moderation', api_key: '****9876' }, stored),
      '/api_key',
    );
  });
  test('real secrets and restored ones pass', () => {
    const stored = { display_name: 'p', api_key: 'sk-stored-credential-0001' };
    const merged = mergeSecretsForReplace(
      'provider_keys',
      { display_name: 'p', api_key: '****0001' },
      stored,
    );
    assert.equal(introducedMask('provider_keys', merged, stored), undefined);
    assert.equal(introducedMask('provider_keys', { api_key: 'sk-new-value' }, stored), undefined);
  });
});

describe('resolvePatchSecrets', () => {
  const stored = { display_name: 'p', api_key: 'sk-stored-credential-0001' };
  test('a mask becomes the stored secret; null is left to remove it', () => {
    assert.deepEqual(resolvePatchSecrets('provider_keys', { api_key: '****0001' }, stored), {
      api_key: stored.api_key,
      secret: null,
    });
    assert.deepEqual(resolvePatchSecrets('provider_keys', { api_key: null }, stored), {
      api_key: null,
      secret: null,
    });
  });
  test('the alias replaces the primary field', () => {
    assert.deepEqual(resolvePatchSecrets('provider_keys', { secret: 'sk-new-22223333' }, stored), {
      api_key: 'sk-new-22223333',
      secret: null,
    });
    assert.deepEqual(resolvePatchSecrets('provider_keys', { secret: '****0001' }, stored), {
      api_key: stored.api_key,
      secret: null,
    });
  });
  test('no stored secret, or a switch of kind: the mask stays (for introducedMask)', () => {
    assert.deepEqual(resolvePatchSecrets('a2a_agents', { secret: '****' }, { name: 'a' }), {
      secret: '****',
    });
    assert.deepEqual(
      resolvePatchSecrets(
        'guardrails',
        { kind: 'lakera', api_key: '****9876' },
        { kind: 'azure_content_safety', api_key: 'k-9876' },
      ),
      { kind: 'lakera', api_key: '****9876' },
    );
  });
  test('nulledSecrets names what a patch removes', () => {
    assert.deepEqual(nulledSecrets('a2a_agents', { secret: null, url: null }), ['/secret']);
    assert.deepEqual(nulledSecrets('observability_exporters', { headers: { a: null, b: 'x' } }), [
      '/headers/a',
    ]);
  });
});
