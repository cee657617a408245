/**
 * Azure OpenAI realtime handshake (agents-and-jobs §7.3):
 * `<ws origin>/openai/realtime?api-version=2024-10-01-preview&deployment=<model_name>` with the
 * `api-key` header. An Entra ID credential is refused before the 101: minting its token is an
 * async step the handshake path does not take yet (docs/realtime.md).
 */
import type { RealtimeInput, RealtimeResult } from '../contract.js';
import { refusal } from '../contract.js';
import { NOT_WS_BASE, realtimeHeaders, toWebSocketUrl } from '../shared/realtime.js';
import { parseAzureCredential } from './entra.js';
import { azureOrigin } from './url.js';

export const AZURE_REALTIME_API_VERSION = '2024-10-01-preview';

const NAME = /^[A-Za-z0-9_-]+$/;

export function prepareAzureRealtime(input: RealtimeInput): RealtimeResult {
  const pk = input.providerKey;
  const origin = azureOrigin(pk.api_base, pk.provider ?? '');
  if (!origin.ok) return refusal('invalid_config', origin.message);
  const ws = toWebSocketUrl(origin.origin);
  if (ws === undefined) return refusal('invalid_config', NOT_WS_BASE);
  if (!NAME.test(input.upstreamModel))
    return refusal(
      'invalid_config',
      'invalid upstream configuration: azure-openai deployment (model_name) must match [A-Za-z0-9_-]+',
    );
  const cred = parseAzureCredential(pk);
  if (!cred.ok) return refusal('invalid_credentials', cred.message);
  if (cred.credential.kind !== 'api_key')
    return refusal(
      'invalid_config',
      'invalid upstream configuration: azure-openai realtime needs an api-key credential (Entra ID is not supported for realtime)',
    );
  return {
    ok: true,
    request: {
      url: new URL(
        `${ws}/openai/realtime?api-version=${AZURE_REALTIME_API_VERSION}&deployment=${input.upstreamModel}`,
      ),
      headers: realtimeHeaders(input, { 'api-key': cred.credential.key }),
    },
  };
}
