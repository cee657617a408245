/**
 * `observability_exporters`: where usage events and traces are shipped. `kind` picks one
 * closed branch (common fields + the kind's own); a field from another kind is rejected on
 * write. Credentials are never inline: `credential_ref` names environment variables on the
 * gateway host. Plain `http://` endpoints are limited to loopback and known test hosts so a
 * typo cannot send telemetry unencrypted across a network.
 */
import * as v from 'valibot';
import { discriminated, intRange, type Mode, nonEmpty, obj, stringMap, strLen, unit } from './common.js';

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];
const OTLP_HTTP_HOSTS = new Set(['mock-otlp', 'otel-collector', '127.0.0.1', 'localhost']);
const OBJECT_STORE_TEST_HOSTS = new Set([...LOOPBACK, 'minio', 'azurite', 'fake-gcs', 'fake-gcs-server']);
const DATADOG_SITES = new Set([
  'datadoghq.com',
  'us3.datadoghq.com',
  'us5.datadoghq.com',
  'datadoghq.eu',
  'ap1.datadoghq.com',
  'ap2.datadoghq.com',
  'ddog-gov.com',
]);

function parseUrl(s: string): URL | null {
  try {
    return new URL(s);
  } catch {
    return null;
  }
}

function isTestHost(host: string): boolean {
  return LOOPBACK.includes(host) || host.startsWith('mock-');
}

/** `https://` anywhere, `http://` only for the given hosts. */
function endpoint(httpHosts: (host: string) => boolean, message: string) {
  return v.pipe(
    v.string(),
    v.check((s) => {
      const u = parseUrl(s);
      if (u === null) return false;
      if (u.protocol === 'https:') return true;
      return u.protocol === 'http:' && httpHosts(u.hostname);
    }, message),
  );
}

const otlpEndpoint = endpoint(
  (h) => OTLP_HTTP_HOSTS.has(h),
  'endpoint must be https://, or http:// only for mock-otlp, otel-collector, 127.0.0.1, localhost',
);

const slsEndpoint = v.pipe(
  v.string(),
  v.check((s) => {
    const u = parseUrl(s.includes('://') ? s : `https://${s}`);
    if (u === null || (u.protocol !== 'https:' && u.protocol !== 'http:')) return false;
    return (u.protocol === 'https:' && u.hostname.endsWith('.aliyuncs.com')) || isTestHost(u.hostname);
  }, 'endpoint must be an <x>.aliyuncs.com host, or a loopback/mock test host'),
);

const objectStoreEndpoint = endpoint(
  (h) => OBJECT_STORE_TEST_HOSTS.has(h),
  'endpoint must be https://, or http:// only for loopback, minio, azurite or fake-gcs test hosts',
);

const datadogSite = v.pipe(
  v.string(),
  v.check((s) => {
    if (DATADOG_SITES.has(s)) return true;
    const u = parseUrl(s.includes('://') ? s : `http://${s}`);
    return u !== null && isTestHost(u.hostname);
  }, 'site must be a Datadog site (datadoghq.com, us3/us5.datadoghq.com, datadoghq.eu, ap1/ap2.datadoghq.com, ddog-gov.com) or a test host'),
);

const content = {
  content_mode: v.optional(v.picklist(['metadata_only', 'full']), 'metadata_only'),
  content_max_bytes: v.optional(intRange(1, 1_048_576), 131_072),
};

function common() {
  return { name: strLen(1, 120), enabled: v.optional(v.boolean(), true) };
}

export function observabilityExporterSchema(mode: Mode) {
  const c = common();
  return discriminated('kind', {
    otlp_http: obj(mode, {
      ...c,
      kind: v.literal('otlp_http'),
      endpoint: otlpEndpoint,
      headers: v.optional(stringMap),
      sample_rate: v.optional(unit),
      ...content,
    }),
    aliyun_sls: obj(mode, {
      ...c,
      kind: v.literal('aliyun_sls'),
      endpoint: slsEndpoint,
      project: nonEmpty,
      logstore: nonEmpty,
      credential_ref: nonEmpty,
      ...content,
    }),
    object_store: v.pipe(
      obj(mode, {
        ...c,
        kind: v.literal('object_store'),
        provider: v.picklist(['s3', 'gcs', 'azure_blob']),
        bucket: nonEmpty,
        prefix: v.string(),
        region: v.optional(v.string()),
        endpoint: v.optional(objectStoreEndpoint),
        auth_mode: v.optional(v.picklist(['credential_ref', 'cloud_identity']), 'credential_ref'),
        credential_ref: v.optional(nonEmpty),
        compression: v.optional(v.picklist(['gzip', 'none']), 'gzip'),
      }),
      v.check(
        (o) => o.auth_mode !== 'cloud_identity' || o.provider !== 'azure_blob',
        'auth_mode cloud_identity is only available for s3 and gcs',
      ),
      v.check(
        (o) => o.auth_mode === 'cloud_identity' || o.credential_ref !== undefined,
        'credential_ref is required unless auth_mode is cloud_identity',
      ),
    ),
    datadog: obj(mode, {
      ...c,
      kind: v.literal('datadog'),
      site: datadogSite,
      service: nonEmpty,
      credential_ref: nonEmpty,
      ddsource: v.optional(v.string(), 'aisix-ai-gateway'),
      tags: v.optional(v.array(v.string()), () => []),
      ...content,
    }),
  });
}

export type ObservabilityExporter = v.InferOutput<ReturnType<typeof observabilityExporterSchema>>;
