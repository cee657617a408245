/**
 * Core decides at write time whether a provider key can dispatch (`providerKeyDispatches`,
 * from its `PROVIDER_VENDORS` table); the gateway dispatches through `defaultRegistry`. The two
 * must agree on every vendor/adapter combination, or the Admin API would accept keys the
 * gateway cannot use (or refuse usable ones).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROVIDER_ADAPTERS, PROVIDER_VENDORS, providerKeyDispatches } from '@aisix/core';
import { defaultRegistry } from './index.js';

test('core providerKeyDispatches agrees with defaultRegistry on every provider/adapter pair', () => {
  const providers = ['', 'mistral', 'azure', ...Object.keys(PROVIDER_VENDORS)];
  const adapters = [undefined, ...PROVIDER_ADAPTERS];
  let dispatching = 0;
  for (const provider of providers) {
    for (const adapter of adapters) {
      const pk = { provider, adapter, display_name: 'k', api_key: 'secret' };
      const registry = defaultRegistry.resolve(pk) !== undefined;
      assert.equal(
        providerKeyDispatches(pk),
        registry,
        `provider ${JSON.stringify(provider)} adapter ${adapter}`,
      );
      if (registry) dispatching += 1;
    }
  }
  // Both answers occur: the comparison is not vacuous.
  assert.ok(dispatching > 0 && dispatching < providers.length * adapters.length);
});
