/**
 * The resource model: one schema factory per kind (strict for writes, lenient for etcd
 * reads), the inferred document types, and the rows of the kinds table that `kinds.ts`
 * completes and indexes. Validation entry points (`validateWrite`, `parseRead`) live in `validate.ts`;
 * secret masking in `secrets.ts`; key layout in `keys.ts`.
 */
import type { GenericSchema } from 'valibot';
import { type A2aAgent, a2aAgentSchema, type OidcProvider, oidcProviderSchema } from './a2a-oidc.js';
import { type ApiKey, apiKeySchema } from './api-keys.js';
import { type CachePolicy, cachePolicySchema } from './cache-policies.js';
import type { Mode } from './common.js';
import {
  type Guardrail,
  type GuardrailAttachment,
  guardrailAttachmentSchema,
  guardrailSchema,
} from './guardrails.js';
import { type McpPolicy, type McpServer, mcpPolicySchema, mcpServerSchema } from './mcp.js';
import { type Model, modelSchema } from './models.js';
import { type ObservabilityExporter, observabilityExporterSchema } from './observability-exporters.js';
import { type ProviderKey, providerKeySchema } from './provider-keys.js';
import { type RateLimitPolicy, rateLimitPolicySchema } from './rate-limit-policies.js';

export type { A2aAgent, OidcProvider } from './a2a-oidc.js';
export type { ApiKey } from './api-keys.js';
export { KEY_HASH_PATTERN, MAX_PREVIOUS_KEYS } from './api-keys.js';
export type { CachePolicy } from './cache-policies.js';
export type { Mode as SchemaMode, RateLimit } from './common.js';
export { lengthBound } from './common.js';
export { PII_DETECTORS } from './guardrail-kinds.js';
export type { Guardrail, GuardrailAttachment } from './guardrails.js';
export type { McpPolicy, McpServer } from './mcp.js';
export { isJsonMediaType, OPENAPI_TOOL_METHODS, openApiToolName, openApiToolNames } from './mcp.js';
export type { Model } from './models.js';
export type { ObservabilityExporter } from './observability-exporters.js';
export { pemCertificates } from './pem.js';
export type { ProviderKey } from './provider-keys.js';
export {
  apiBaseError,
  DEFAULT_STRIP_HEADERS,
  normaliseHeaderList,
  PROVIDER_ADAPTERS,
  PROVIDER_VENDORS,
  providerKeyDispatches,
} from './provider-keys.js';
export type { ConditionGroup, ConditionLeaf, ConditionNode } from './rate-limit-conditions.js';
export { compileConditionRegex } from './rate-limit-conditions.js';
export type { RateLimitPolicy } from './rate-limit-policies.js';
export { re2 } from './re2.js';

/** Output type (defaults filled, aliases normalised) of each kind's document. */
export interface ResourceTypes {
  models: Model;
  api_keys: ApiKey;
  provider_keys: ProviderKey;
  guardrails: Guardrail;
  guardrail_attachments: GuardrailAttachment;
  cache_policies: CachePolicy;
  observability_exporters: ObservabilityExporter;
  rate_limit_policies: RateLimitPolicy;
  mcp_servers: McpServer;
  mcp_policies: McpPolicy;
  a2a_agents: A2aAgent;
  oidc_providers: OidcProvider;
}

/** One kind as the resource model knows it; `kinds.ts` derives the table's `KindDef` from it. */
export interface KindRow {
  kind: keyof ResourceTypes;
  typeName: string;
  schema: (mode: Mode) => GenericSchema;
  fileCollection: boolean;
  nameField: string | null;
  /** See `KindDef.nameAlias`. */
  nameAlias?: string;
  secretPaths: readonly string[];
  tier: 'core' | 'extended';
  adminAliases?: readonly string[];
}

/** Vendor credentials a guardrail may carry (kind-dependent; absent paths are skipped). */
const GUARDRAIL_SECRETS = ['api_key', 'access_key_secret', 'aws_credentials.secret_access_key'];

export const KIND_ROWS: readonly KindRow[] = [
  {
    kind: 'models',
    typeName: 'Model',
    schema: modelSchema,
    fileCollection: true,
    nameField: 'display_name',
    secretPaths: [],
    tier: 'core',
  },
  {
    kind: 'api_keys',
    typeName: 'ApiKey',
    schema: apiKeySchema,
    fileCollection: true,
    nameField: 'key_hash',
    secretPaths: [],
    tier: 'core',
    adminAliases: ['apikeys'],
  },
  {
    kind: 'provider_keys',
    typeName: 'ProviderKey',
    schema: providerKeySchema,
    fileCollection: true,
    nameField: 'display_name',
    secretPaths: ['api_key', 'secret'],
    tier: 'core',
  },
  {
    kind: 'guardrails',
    typeName: 'Guardrail',
    schema: guardrailSchema,
    fileCollection: true,
    nameField: 'name',
    secretPaths: GUARDRAIL_SECRETS,
    tier: 'core',
  },
  {
    kind: 'guardrail_attachments',
    typeName: 'GuardrailAttachment',
    schema: guardrailAttachmentSchema,
    fileCollection: false,
    nameField: null,
    secretPaths: [],
    tier: 'core',
  },
  {
    kind: 'cache_policies',
    typeName: 'CachePolicy',
    schema: cachePolicySchema,
    fileCollection: true,
    nameField: 'name',
    secretPaths: [],
    tier: 'core',
  },
  {
    kind: 'observability_exporters',
    typeName: 'ObservabilityExporter',
    schema: observabilityExporterSchema,
    fileCollection: true,
    nameField: 'name',
    secretPaths: ['headers.*'],
    tier: 'extended',
  },
  {
    kind: 'rate_limit_policies',
    typeName: 'RateLimitPolicy',
    schema: rateLimitPolicySchema,
    fileCollection: true,
    nameField: 'name',
    secretPaths: [],
    tier: 'core',
  },
  {
    kind: 'mcp_servers',
    typeName: 'McpServer',
    schema: mcpServerSchema,
    fileCollection: true,
    nameField: 'name',
    nameAlias: 'display_name',
    secretPaths: ['secret'],
    tier: 'extended',
  },
  {
    kind: 'mcp_policies',
    typeName: 'McpPolicy',
    schema: mcpPolicySchema,
    fileCollection: false,
    nameField: null,
    secretPaths: [],
    tier: 'extended',
  },
  {
    kind: 'a2a_agents',
    typeName: 'A2aAgent',
    schema: a2aAgentSchema,
    fileCollection: true,
    nameField: 'name',
    nameAlias: 'display_name',
    secretPaths: ['secret'],
    tier: 'extended',
  },
  {
    kind: 'oidc_providers',
    typeName: 'OidcProvider',
    schema: oidcProviderSchema,
    fileCollection: true,
    nameField: 'name',
    secretPaths: [],
    tier: 'extended',
  },
];
