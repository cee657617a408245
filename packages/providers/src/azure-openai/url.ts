/**
 * Azure OpenAI upstream URLs (providers.md §6). `api_base` is one of:
 *
 * - `https://<resource>.openai.azure.com` (a pasted `/openai` or `/openai/deployments/...` path is
 *   tolerated and dropped, the same suffix tolerance the OpenAI family has);
 * - a bare resource name (`my-resource`), expanded to `https://my-resource.openai.azure.com`;
 * - any other origin, used verbatim (Azure AI Foundry `*.cognitiveservices.azure.com`, an APIM
 *   front door, a test server). Userinfo, query and fragment are refused.
 *
 * The deployment is `Model.model_name`. Resource and deployment must match `[A-Za-z0-9_-]+`: both
 * are spliced into a host or a path, so anything else (dots, slashes, `%`) could steer the
 * request elsewhere. A missing `api_base` is a 400: there is no public default for Azure.
 */
import type { Endpoint } from '../contract.js';

/** GA data-plane version serving chat completions, completions and embeddings. */
export const AZURE_API_VERSION = '2024-10-21';

const NAME = /^[A-Za-z0-9_-]+$/;
const AZURE_HOST_SUFFIX = '.openai.azure.com';

const ENDPOINT_PATHS: Record<Endpoint, string> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
};

export type AzureUrlResult =
  | { readonly ok: true; readonly url: URL }
  | { readonly ok: false; readonly message: string };

function invalid(why: string): { readonly ok: false; readonly message: string } {
  return { ok: false, message: `invalid upstream configuration: ${why}` };
}

/** Resolves `api_base` to an origin (`https://host[:port]`), or the 400 message. */
export function azureOrigin(
  apiBase: string | null | undefined,
  vendor: string,
): { ok: true; origin: string } | { ok: false; message: string } {
  const base = (apiBase ?? '').trim().replace(/\/+$/, '');
  if (base === '') {
    return {
      ok: false,
      message: `invalid upstream configuration: provider_key for vendor ${JSON.stringify(vendor || 'azure-openai')} has no upstream base URL configured`,
    };
  }
  if (NAME.test(base)) return { ok: true, origin: `https://${base}${AZURE_HOST_SUFFIX}` };
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    return invalid('azure-openai api_base must be https://<resource>.openai.azure.com or a resource name');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    return invalid('azure-openai api_base must be an http(s) origin');
  }
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') {
    return invalid('azure-openai api_base must not carry credentials, a query or a fragment');
  }
  const path = u.pathname.replace(/\/+$/, '');
  if (path !== '' && path !== '/openai' && !path.startsWith('/openai/deployments/')) {
    return invalid('azure-openai api_base must be an origin (no path other than /openai)');
  }
  const host = u.hostname.toLowerCase();
  if (host.endsWith(AZURE_HOST_SUFFIX) && !NAME.test(host.slice(0, -AZURE_HOST_SUFFIX.length))) {
    return invalid('azure-openai resource name must match [A-Za-z0-9_-]+');
  }
  return { ok: true, origin: u.origin };
}

/** `<origin>/openai/deployments/<deployment><endpoint>?api-version=…` */
export function azureUrl(
  apiBase: string | null | undefined,
  vendor: string,
  deployment: string,
  endpoint: Endpoint,
): AzureUrlResult {
  const origin = azureOrigin(apiBase, vendor);
  if (!origin.ok) return origin;
  if (!NAME.test(deployment))
    return invalid('azure-openai deployment (model_name) must match [A-Za-z0-9_-]+');
  return {
    ok: true,
    url: new URL(
      `${origin.origin}/openai/deployments/${deployment}${ENDPOINT_PATHS[endpoint]}?api-version=${AZURE_API_VERSION}`,
    ),
  };
}
