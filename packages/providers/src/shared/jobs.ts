/**
 * Job API calls on the OpenAI wire (`/files`, `/batches`, `/fine_tuning/jobs`): the family's
 * `api_base` rules (pasted suffixes stripped, a bare host gets `/v1`), the key's bearer, the
 * request id and the header pipeline. The path and query come from the gateway, which has
 * already guarded every id in them; a query the `api_base` carries is kept in front.
 */
import { type JobInput, type PrepareResult, refusal } from '../contract.js';
import { upstreamSecret } from './credentials.js';
import { applyDefaultHeaders, forwardClientHeaders } from './headers.js';
import { openAiUrl } from './url.js';

/** Joins the base's own query and the forwarded one (either may be empty). */
export function joinQuery(a: string, b: string): string {
  if (a === '') return b === '' ? '' : `?${b}`;
  return b === '' ? `?${a}` : `?${a}&${b}`;
}

/** Gateway-owned headers plus the key's `default_headers` and forwarded client headers. */
export function jobHeaders(input: JobInput, credential: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {
    ...credential,
    accept: '*/*',
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  if (input.contentType !== '') headers['content-type'] = input.contentType;
  const pk = input.providerKey;
  applyDefaultHeaders(headers, pk.request?.default_headers, input.templateVars);
  forwardClientHeaders(headers, pk.request?.forward_client_headers, input);
  return headers;
}

export function prepareOpenAiJob(input: JobInput): PrepareResult {
  const pk = input.providerKey;
  // The API root: `openAiUrl` with an empty endpoint applies the same base rules as every route.
  const base = openAiUrl(pk.api_base, pk.provider ?? '', '', false);
  if (!base.ok) return refusal('invalid_config', base.message);
  const secret = upstreamSecret(pk);
  if (!secret.ok) return refusal('invalid_credentials', secret.message);
  const b = base.url;
  const root = b.pathname.endsWith('/') ? b.pathname.slice(0, -1) : b.pathname;
  const url = new URL(`${b.origin}${root}${input.path}${joinQuery(b.search.slice(1), input.query)}`);
  const headers = jobHeaders(input, { authorization: `Bearer ${secret.value}` });
  return { ok: true, request: { url, headers, body: '' } };
}
