/**
 * Pieces shared by the native passthrough adapters: the outbound header set (gateway-owned
 * headers first, then the operator's `default_headers` and the client headers the provider key
 * forwards — the same pipeline as every bridge, decision OP-3) and the forwarded body (the
 * caller's body with `model` set to the upstream id and the provider key's renames, constraints
 * and default fields; the OpenAI-only `content_list_to_string` step does not apply here).
 */
import type { PrepareInput } from '../../contract.js';
import { applyBodyOverrides } from '../../shared/body.js';
import { applyDefaultHeaders, forwardClientHeaders } from '../../shared/headers.js';

export function nativeHeaders(
  input: PrepareInput,
  credential: Record<string, string>,
): Record<string, string> {
  const headers: Record<string, string> = {
    ...credential,
    'content-type': 'application/json',
    accept: input.stream ? 'text/event-stream' : 'application/json',
    'x-aisix-request-id': input.requestId,
    'user-agent': input.userAgent,
  };
  const req = input.providerKey.request;
  applyDefaultHeaders(headers, req?.default_headers, input.templateVars);
  forwardClientHeaders(headers, req?.forward_client_headers, input.inboundHeaders);
  return headers;
}

export function nativeBody(input: PrepareInput): string {
  const body: Record<string, unknown> = { ...input.body, model: input.upstreamModel };
  applyBodyOverrides(body, { ...input.providerKey, response: null });
  return JSON.stringify(body);
}
