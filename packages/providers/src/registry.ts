/**
 * Two-tier adapter lookup on the ProviderKey: a vendor-specific adapter first (by
 * `pk.provider`), then the wire-family adapter (by `pk.adapter`). A new OpenAI-compatible vendor
 * therefore needs no code: `adapter: openai` is enough. Neither tier matching means "no dispatch
 * path" and the gateway answers 503 `provider_unavailable`.
 *
 * A vendor entry may restrict the `adapter` values it serves, so e.g. a vendor that offers both
 * an OpenAI- and an Anthropic-compatible API is only specialised on the wire it was written for.
 */
import type { ProviderAdapter, ProviderKeyView } from './contract.js';

export interface VendorEntry {
  readonly adapter: ProviderAdapter;
  /**
   * `pk.adapter` values this vendor adapter serves; undefined = any (including none). `''` stands
   * for a key without `adapter`, so a vendor can claim only adapter-less keys.
   */
  readonly adapters?: readonly string[];
}

export interface RegistrySpec {
  readonly vendors: Readonly<Record<string, VendorEntry>>;
  readonly families: Readonly<Record<string, ProviderAdapter>>;
}

export interface AdapterRegistry {
  resolve(pk: ProviderKeyView): ProviderAdapter | undefined;
}

export function createRegistry(spec: RegistrySpec): AdapterRegistry {
  const vendors = new Map(Object.entries(spec.vendors));
  const families = new Map(Object.entries(spec.families));
  return {
    resolve(pk) {
      const vendor = pk.provider ? vendors.get(pk.provider) : undefined;
      if (vendor) {
        const allowed = vendor.adapters;
        if (!allowed || allowed.includes(pk.adapter ?? '')) return vendor.adapter;
      }
      return pk.adapter ? families.get(pk.adapter) : undefined;
    },
  };
}
