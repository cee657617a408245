/** UUID v5 ids of resources-file entries. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileResourceId, RESOURCES_FILE_NAMESPACE, uuidV5 } from './uuid.js';

describe('uuidV5', () => {
  it('matches the RFC 4122 style reference vector (DNS namespace, www.example.com)', () => {
    assert.equal(
      uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com'),
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });
  it('the file namespace is v5 of the URL namespace and the documented URL', () => {
    assert.equal(
      uuidV5('6ba7b811-9dad-11d1-80b4-00c04fd430c8', 'https://github.com/api7/aisix#resources-file'),
      RESOURCES_FILE_NAMESPACE,
    );
  });
  it('derives the spec test vectors over <kind>/<identity>', () => {
    assert.equal(fileResourceId('models', 'gpt-4o'), '6efd592d-a73b-573d-8e2c-e9e103692f92');
    assert.equal(fileResourceId('provider_keys', 'openai-main'), '60e946aa-8548-57ed-9cdf-093de0395783');
  });
});
