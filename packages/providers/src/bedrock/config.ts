/**
 * Bedrock configuration from the ProviderKey: the AWS credential JSON in `api_key`, the endpoint,
 * and the model publisher.
 *
 *   {"access_key_id": "AKIA…", "secret_access_key": "…", "session_token": "…"?, "region": "us-east-1"}
 *
 * The endpoint is `https://bedrock-runtime.<region>.amazonaws.com`; `api_base` overrides it with
 * an origin (VPC endpoints, FIPS hosts, tests). The signing region stays the credential's.
 * Publisher detection ignores cross-region inference prefixes (`us.anthropic.claude-…` is
 * Anthropic) so inference profiles route like the base model. Refusal messages never contain
 * the secret key or token.
 */
import type { ProviderKeyView } from '../contract.js';
import type { AwsCredentials } from './sigv4.js';

export interface BedrockConfig {
  readonly credentials: AwsCredentials;
  readonly region: string;
  readonly origin: string;
}

export type ConfigResult =
  | { readonly ok: true; readonly config: BedrockConfig }
  | { readonly ok: false; readonly kind: 'invalid_config' | 'invalid_credentials'; readonly message: string };

const REGION = /^[a-z]{2}(-[a-z0-9]+)+-\d+$/;
const HEADER_SAFE = /^[\x21-\x7e]+$/;

function creds(message: string): ConfigResult {
  return { ok: false, kind: 'invalid_credentials', message: `invalid upstream credentials: ${message}` };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

export function bedrockConfig(pk: ProviderKeyView): ConfigResult {
  const raw = (pk.api_key ?? pk.secret ?? '').trim();
  if (raw === '') return creds('provider key has an empty api_key');
  let j: unknown;
  try {
    j = JSON.parse(raw);
  } catch {
    return creds('bedrock api_key must be JSON {access_key_id, secret_access_key, session_token?, region}');
  }
  const o = (j !== null && typeof j === 'object' && !Array.isArray(j) ? j : {}) as Record<string, unknown>;
  const accessKeyId = str(o.access_key_id);
  const secretAccessKey = str(o.secret_access_key);
  const sessionToken = str(o.session_token);
  const region = str(o.region);
  if (!accessKeyId || !secretAccessKey)
    return creds('bedrock api_key needs access_key_id and secret_access_key');
  if (!HEADER_SAFE.test(accessKeyId) || (sessionToken !== undefined && !HEADER_SAFE.test(sessionToken))) {
    return creds('bedrock access_key_id / session_token contain bytes not allowed in an HTTP header');
  }
  if (!region || !REGION.test(region)) return creds('bedrock api_key needs a region such as "us-east-1"');
  let origin = `https://bedrock-runtime.${region}.amazonaws.com`;
  const base = (pk.api_base ?? '').trim().replace(/\/+$/, '');
  if (base !== '') {
    let u: URL;
    try {
      u = new URL(base);
    } catch {
      return {
        ok: false,
        kind: 'invalid_config',
        message: 'invalid upstream configuration: bedrock api_base is not a valid URL',
      };
    }
    if (
      (u.protocol !== 'https:' && u.protocol !== 'http:') ||
      u.username !== '' ||
      u.password !== '' ||
      u.search !== '' ||
      u.hash !== '' ||
      (u.pathname !== '' && u.pathname !== '/')
    ) {
      return {
        ok: false,
        kind: 'invalid_config',
        message: 'invalid upstream configuration: bedrock api_base must be a bare http(s) origin',
      };
    }
    origin = u.origin;
  }
  return {
    ok: true,
    config: { credentials: { accessKeyId, secretAccessKey, sessionToken }, region, origin },
  };
}

export type Publisher = 'anthropic' | 'meta' | 'mistral' | 'amazon' | 'cohere' | 'ai21' | 'other';

const CROSS_REGION = ['us-gov.', 'global.', 'apac.', 'us.', 'eu.', 'jp.', 'au.', 'ca.'];
const PUBLISHERS: readonly Publisher[] = ['anthropic', 'meta', 'mistral', 'amazon', 'cohere', 'ai21'];

/** The model id without a cross-region inference prefix; ARNs reduced to their last segment. */
export function baseModelId(modelId: string): string {
  let id = modelId.startsWith('arn:') ? (modelId.split('/').pop() ?? modelId) : modelId;
  for (const p of CROSS_REGION) {
    if (id.startsWith(p)) {
      id = id.slice(p.length);
      break;
    }
  }
  return id;
}

export function publisherOf(modelId: string): Publisher {
  const id = baseModelId(modelId);
  return PUBLISHERS.find((p) => id.startsWith(`${p}.`)) ?? 'other';
}

/** Embedding models served through `invoke` (Titan and Cohere embed families). */
export function embeddingFamily(modelId: string): 'titan' | 'cohere' | undefined {
  const id = baseModelId(modelId);
  if (id.startsWith('amazon.titan-embed')) return 'titan';
  if (id.startsWith('cohere.embed')) return 'cohere';
  return undefined;
}

/** `<origin>/model/<encoded id>/<action>`: the id is one path segment (`:` and `/` escaped). */
export function modelUrl(
  origin: string,
  modelId: string,
  action: 'invoke' | 'converse' | 'converse-stream',
): URL {
  return new URL(`${origin}/model/${encodeURIComponent(modelId)}/${action}`);
}
