/** The remote kinds by name: each builds a `RemoteCheck` from its validated resource. */
import type { GuardrailDoc } from '../types.js';
import { aliyunTextModeration } from './aliyun.js';
import { azurePromptShield, azureTextModeration } from './azure.js';
import { bedrock } from './bedrock.js';
import type { RemoteCheck } from './http.js';
import { lakera } from './lakera.js';
import { openAiModeration } from './openai-moderation.js';
import { presidio } from './presidio.js';

/** Deployment-wide settings the remote kinds read (config.yaml). */
export interface RemoteOptions {
  /** `bedrock_endpoint_url`: the Bedrock endpoint of `kind: bedrock` guardrails without their own. */
  readonly bedrockEndpointUrl?: string | undefined;
}

/** undefined: a kind this gateway does not call (local kinds, and `aliyun_ai_guardrail` for now). */
export function remoteCheck(g: GuardrailDoc, o: RemoteOptions = {}): RemoteCheck | undefined {
  switch (g.kind) {
    case 'openai_moderation':
      return openAiModeration(g);
    case 'lakera':
      return lakera(g);
    case 'presidio':
      return presidio(g);
    case 'azure_content_safety':
      return azurePromptShield(g);
    case 'azure_content_safety_text_moderation':
      return azureTextModeration(g);
    case 'bedrock':
      return bedrock(g, o.bedrockEndpointUrl);
    case 'aliyun_text_moderation':
      return aliyunTextModeration(g);
    default:
      return undefined;
  }
}
