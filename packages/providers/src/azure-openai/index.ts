/**
 * Azure OpenAI (`adapter: azure-openai`, providers.md §6): the OpenAI wire at a deployment URL.
 *
 * - `prepare` builds `<origin>/openai/deployments/<model_name>/<endpoint>?api-version=2024-10-21`
 *   (url.ts), the OpenAI body (shared body.ts: `stream`, `include_usage`, PK overrides) and the
 *   gateway-owned headers. A plain key goes out as `api-key`.
 * - `authorize` (async, per attempt) adds `Authorization: Bearer <Entra ID token>` when the key
 *   is an Entra client credential (entra.ts); for a plain key it returns the request unchanged.
 * - Responses and streams are the OpenAI wire: the shared base's transform and stream relay.
 *   Azure's `prompt_filter_results` / `content_filter_results` pass through untouched (OpenAI
 *   SDKs ignore unknown fields; Azure's leading `choices: []` filter chunk is forwarded as is).
 * - Errors: the OpenAI shape with Azure's `code` mapped (DeploymentNotFound → model_not_found,
 *   ResponsibleAIPolicyViolation / content_filter → content_policy_violation), shared/errors.ts.
 *
 * Embeddings are served (the reference answered 501): Azure has the same `/embeddings` route per
 * deployment, so refusing it would only push callers to a second gateway.
 */
import type {
  AuthorizeContext,
  JobInput,
  PreparedRequest,
  PrepareInput,
  PrepareResult,
  ProviderAdapter,
  RawInput,
  RawResult,
  UpstreamErrorInfo,
} from '../contract.js';
import { refusal } from '../contract.js';
import { openAiBodyText } from '../shared/body.js';
import { parseOpenAiWireError } from '../shared/errors.js';
import { applyDefaultHeaders, forwardClientHeaders } from '../shared/headers.js';
import { jobHeaders, joinQuery } from '../shared/jobs.js';
import { ALL_CAPABILITIES, createOpenAiCompatibleAdapter } from '../shared/openai-base.js';
import { rawWith } from '../shared/raw.js';
import { EntraTokenCache, parseAzureCredential } from './entra.js';
import { prepareAzureRealtime } from './realtime.js';
import { AZURE_API_VERSION, azureOrigin, azureUrl } from './url.js';

export { EntraTokenCache, parseAzureCredential } from './entra.js';
export { AZURE_REALTIME_API_VERSION, prepareAzureRealtime } from './realtime.js';
export { AZURE_API_VERSION, azureOrigin, azureUrl } from './url.js';

/** Builds an Azure adapter with its own token cache (tests use fresh ones). */
export function createAzureOpenAiAdapter(cache: EntraTokenCache = new EntraTokenCache()): ProviderAdapter {
  // Response, stream and usage handling are exactly the OpenAI wire's.
  const wire = createOpenAiCompatibleAdapter({ id: 'azure-openai' });

  function prepare(input: PrepareInput): PrepareResult {
    const pk = input.providerKey;
    const url = azureUrl(pk.api_base, pk.provider ?? '', input.upstreamModel, input.endpoint);
    if (!url.ok) return refusal('invalid_config', url.message);
    const cred = parseAzureCredential(pk);
    if (!cred.ok) return refusal('invalid_credentials', cred.message);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: input.stream ? 'text/event-stream' : 'application/json',
      'x-aisix-request-id': input.requestId,
      'user-agent': input.userAgent,
    };
    // The Entra bearer is added by `authorize`; the name is reserved either way, so neither
    // default_headers nor forwarded client headers can fill it in.
    if (cred.credential.kind === 'api_key') headers['api-key'] = cred.credential.key;
    applyDefaultHeaders(headers, pk.request?.default_headers, input.templateVars);
    forwardClientHeaders(headers, pk.request?.forward_client_headers, input);
    return { ok: true, request: { url: url.url, headers, body: openAiBodyText(input) } };
  }

  /** Job APIs live at the resource root: `<origin>/openai<path>?api-version=...`. */
  function prepareJob(input: JobInput): PrepareResult {
    const pk = input.providerKey;
    const origin = azureOrigin(pk.api_base, pk.provider ?? '');
    if (!origin.ok) return refusal('invalid_config', origin.message);
    const cred = parseAzureCredential(pk);
    if (!cred.ok) return refusal('invalid_credentials', cred.message);
    const hasVersion = new URLSearchParams(input.query).has('api-version');
    const query = hasVersion
      ? input.query
      : joinQuery(input.query, `api-version=${AZURE_API_VERSION}`).slice(1);
    const url = new URL(`${origin.origin}/openai${input.path}?${query}`);
    const credential: Record<string, string> =
      cred.credential.kind === 'api_key' ? { 'api-key': cred.credential.key } : {};
    return { ok: true, request: { url, headers: jobHeaders(input, credential), body: '' } };
  }

  /** Raw tunnel: the resource origin; an Entra credential's bearer comes from `authorize`. */
  function prepareRaw(input: RawInput): RawResult {
    const pk = input.providerKey;
    const origin = azureOrigin(pk.api_base, pk.provider ?? '');
    if (!origin.ok) return refusal('invalid_config', origin.message);
    const cred = parseAzureCredential(pk);
    if (!cred.ok) return refusal('invalid_credentials', cred.message);
    if (cred.credential.kind === 'api_key')
      return rawWith(input, { 'api-key': cred.credential.key }, origin.origin);
    const r = rawWith(input, {}, origin.origin);
    return r.ok ? { ...r, authorize: true } : r;
  }

  async function authorize(request: PreparedRequest, ctx: AuthorizeContext): Promise<PrepareResult> {
    const cred = parseAzureCredential(ctx.providerKey);
    if (!cred.ok) return refusal('invalid_credentials', cred.message);
    if (cred.credential.kind === 'api_key') return { ok: true, request };
    const t = await cache.token(cred.credential.entra, ctx.http, ctx.now);
    if (!t.ok) return refusal('invalid_credentials', t.message);
    return {
      ok: true,
      request: { ...request, headers: { ...request.headers, authorization: `Bearer ${t.token}` } },
    };
  }

  return {
    id: 'azure-openai',
    errorWire: 'azure',
    capabilities: ALL_CAPABILITIES,
    prepare,
    prepareJob,
    prepareRaw,
    authorize,
    prepareRealtime: prepareAzureRealtime,
    transformResponse: wire.transformResponse,
    createStreamTranslator: wire.createStreamTranslator,
    parseError(_status: number, text: string): UpstreamErrorInfo {
      return parseOpenAiWireError(text, 'azure');
    },
  };
}

export const azureOpenAiAdapter: ProviderAdapter = createAzureOpenAiAdapter();
