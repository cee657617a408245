/**
 * `provider_keys`: an upstream credential plus per-vendor request/response tweaks.
 *
 * The credential arrives as `api_key` or its alias `secret` (exactly one) and is always
 * emitted as `api_key`. `strip_headers` is normalised (trimmed, lower-cased, de-duplicated,
 * blanks dropped) and defaults to the auth/cookie headers; `telemetry_tags` defaults to
 * `{featured: false}`. Masking of the credential lives in `secrets.ts`.
 */
import * as v from 'valibot';
import {
  anyObject,
  carryUnknown,
  finiteNumber,
  type Mode,
  nonEmpty,
  obj,
  pathItem,
  rule,
  stringMap,
} from './common.js';
import { pemCertificates } from './pem.js';

export const DEFAULT_STRIP_HEADERS: readonly string[] = [
  'authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
];

export const PROVIDER_ADAPTERS = ['openai', 'anthropic', 'bedrock', 'vertex', 'azure-openai'] as const;

/**
 * Vendors (`provider`) with an adapter of their own, and the `adapter` values each one serves
 * (undefined = any, `''` = a key without `adapter`). Mirrors `@aisix/providers`'
 * `defaultRegistry`, whose test keeps the two in step.
 */
export const PROVIDER_VENDORS: Readonly<Record<string, readonly string[] | undefined>> = {
  openai: undefined,
  anthropic: undefined,
  deepseek: ['openai'],
  gemini: [''],
};

/**
 * True when a key has a dispatch path: a vendor adapter for its `provider` (serving its
 * `adapter`), else a protocol family from `adapter`. Without one every request through the
 * key fails (503 `provider_unavailable`).
 */
export function providerKeyDispatches(pk: { provider?: unknown; adapter?: unknown }): boolean {
  const provider = typeof pk.provider === 'string' ? pk.provider : '';
  const adapter = typeof pk.adapter === 'string' ? pk.adapter : '';
  if (Object.hasOwn(PROVIDER_VENDORS, provider)) {
    const serves = PROVIDER_VENDORS[provider];
    if (serves === undefined || serves.includes(adapter)) return true;
  }
  return (PROVIDER_ADAPTERS as readonly string[]).includes(adapter);
}

/** Azure OpenAI also takes a bare resource name (`my-resource`) as its `api_base`. */
const AZURE_RESOURCE = /^[A-Za-z0-9_-]+$/;

/** Null when `api_base` can be used, else why not. Blank means "the vendor default". */
export function apiBaseError(apiBase: unknown, adapter: unknown): string | null {
  if (typeof apiBase !== 'string' || apiBase.trim() === '') return null;
  const base = apiBase.trim();
  if (adapter === 'azure-openai' && AZURE_RESOURCE.test(base.replace(/\/+$/, ''))) return null;
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    return 'must be an absolute http(s) URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an absolute http(s) URL';
  return null;
}

function dispatchMessage(provider: string): string {
  const serves = PROVIDER_VENDORS[provider];
  if (Object.hasOwn(PROVIDER_VENDORS, provider) && serves !== undefined) {
    const with_ = serves.map((a) => (a === '' ? 'without adapter' : `with adapter ${JSON.stringify(a)}`));
    return `provider ${JSON.stringify(provider)} is served only ${with_.join(' or ')}`;
  }
  const vendors = Object.keys(PROVIDER_VENDORS).join(', ');
  const what = provider === '' ? 'no provider' : `unknown provider ${JSON.stringify(provider)}`;
  return (
    `${what} and no adapter: nothing can dispatch requests through this key ` +
    `(vendors with their own adapter: ${vendors}; otherwise set adapter to one of ${PROVIDER_ADAPTERS.join(', ')})`
  );
}

/**
 * Write-time only (the etcd read path stays lenient so old documents still load): the key must
 * have a dispatch path and a usable `api_base`, reported at the field's pointer.
 */
function usableOnWrite<
  T extends {
    provider?: string;
    adapter?: string | null;
    api_base?: string | null;
    tls?: { ca_cert?: string | undefined } | null | undefined;
  },
>(mode: Mode) {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    if (mode === 'lenient' || !dataset.typed) return;
    const o = dataset.value;
    const baseErr = apiBaseError(o.api_base, o.adapter);
    if (baseErr !== null) {
      addIssue({ message: baseErr, path: [pathItem('api_base', o.api_base)] });
      return;
    }
    if (!providerKeyDispatches(o)) {
      addIssue({ message: dispatchMessage(o.provider ?? ''), path: [pathItem('provider', o.provider)] });
      return;
    }
    const ca = o.tls?.ca_cert;
    if (ca !== undefined && pemCertificates(ca) === undefined) {
      addIssue({
        message: 'tls.ca_cert must hold one or more PEM certificates (-----BEGIN CERTIFICATE-----)',
        path: [pathItem('tls', o.tls), pathItem('ca_cert', ca)],
      });
    }
  });
}

/** Trimmed, lower-cased, de-duplicated, blanks dropped; first occurrence keeps its place. */
export function normaliseHeaderList(list: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of list) {
    const h = raw.trim().toLowerCase();
    if (h !== '' && !out.includes(h)) out.push(h);
  }
  return out;
}

function telemetryTags(mode: Mode) {
  return obj(mode, {
    kind: v.optional(v.picklist(['catalog', 'byo'])),
    featured: v.optional(v.boolean(), false),
    branded_provider: v.optional(v.string()),
    pk_label: v.optional(v.string()),
    byo_label: v.optional(v.string()),
  });
}

function requestOptions(mode: Mode) {
  return obj(mode, {
    param_renames: v.optional(stringMap),
    param_constraints: v.optional(
      obj(mode, { temperature_min: v.optional(finiteNumber), temperature_max: v.optional(finiteNumber) }),
    ),
    default_headers: v.optional(stringMap),
    forward_client_headers: v.optional(v.array(v.string())),
    default_body_fields: v.optional(anyObject),
  });
}

function responseOptions(mode: Mode) {
  return obj(mode, {
    stream_done_marker: v.optional(v.picklist(['required', 'optional', 'none'])),
    content_list_to_string: v.optional(v.boolean(), false),
    error_envelope: v.optional(v.unknown()),
    reasoning_field: v.optional(v.string()),
  });
}

function tlsOptions(mode: Mode) {
  return obj(mode, { ca_cert: v.optional(v.string()), verify: v.optional(v.boolean(), true) });
}

const MSG_BOTH = 'malformed ProviderKey payload: `api_key` and its alias `secret` are mutually exclusive';
const MSG_NONE = 'malformed ProviderKey payload: missing field `api_key`';

export function providerKeySchema(mode: Mode) {
  return v.pipe(
    obj(mode, {
      display_name: nonEmpty,
      api_key: v.optional(nonEmpty),
      secret: v.optional(nonEmpty),
      api_base: v.nullish(v.string()),
      provider: v.optional(v.string(), ''),
      adapter: v.nullish(v.picklist(PROVIDER_ADAPTERS)),
      telemetry_tags: v.optional(telemetryTags(mode), () => ({ featured: false })),
      request: v.nullish(requestOptions(mode)),
      response: v.nullish(responseOptions(mode)),
      strip_headers: v.optional(
        v.pipe(
          v.array(v.string()),
          v.transform((l) => normaliseHeaderList(l)),
        ),
        () => [...DEFAULT_STRIP_HEADERS],
      ),
      tls: v.nullish(tlsOptions(mode)),
    }),
    rule((o) => !(o.api_key !== undefined && o.secret !== undefined), MSG_BOTH),
    rule((o) => o.api_key !== undefined || o.secret !== undefined, MSG_NONE),
    usableOnWrite(mode),
    v.transform((o) => {
      const { secret, api_key, display_name, ...rest } = o;
      return carryUnknown(o, { display_name, api_key: (api_key ?? secret) as string, ...rest });
    }),
  );
}

export type ProviderKey = v.InferOutput<ReturnType<typeof providerKeySchema>>;
