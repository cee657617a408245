/**
 * docs/admin-api-reference.md is generated from the OpenAPI document; this fails when the
 * committed page is out of date. Regenerate with:
 *   node packages/admin-api/dist/src/gen-reference.js > docs/admin-api-reference.md
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { renderReference } from './gen-reference.js';

it('the committed Admin API reference matches the OpenAPI document', () => {
  // dist/src/reference.test.js -> repo root is four levels up.
  const file = new URL('../../../../docs/admin-api-reference.md', import.meta.url);
  const committed = readFileSync(file, 'utf8');
  assert.ok(
    committed === renderReference(),
    'docs/admin-api-reference.md is stale: run `node packages/admin-api/dist/src/gen-reference.js > docs/admin-api-reference.md`',
  );
  assert.ok(committed.includes('/admin/v1/api_keys/{id}/rotate'));
});
