/**
 * `guardrails` and `guardrail_attachments`. A guardrail is the common fields plus `kind` and
 * that kind's fields, flattened into one document. Both roots are open: unknown top-level
 * fields are dropped on write (a client `id` is silently ignored) and kept-but-reported on
 * read; nested objects stay closed. Attachments scope a guardrail to a model, key or team.
 */
import * as v from 'valibot';
import { discriminated, i32, type Mode, nonEmpty, openObj, rfc3339 } from './common.js';
import { guardrailKindEntries } from './guardrail-kinds.js';

function commonFields() {
  return {
    name: nonEmpty,
    enabled: v.optional(v.boolean(), true),
    hook_point: v.optional(v.picklist(['input', 'output', 'both']), 'both'),
    fail_open: v.optional(v.boolean(), true),
    // Any string: values other than `monitor` behave as `block`.
    enforcement_mode: v.optional(v.string(), 'block'),
    mandatory: v.optional(v.boolean(), false),
    direction: v.optional(v.string(), 'both'),
    created_at: v.optional(rfc3339),
  };
}

export function guardrailSchema(mode: Mode) {
  const k = guardrailKindEntries(mode);
  const c = commonFields();
  const branch = <const K extends string, E extends v.ObjectEntries>(kind: K, entries: E) =>
    openObj(mode, { ...c, kind: v.literal(kind), ...entries });
  return discriminated('kind', {
    keyword: branch('keyword', k.keyword),
    pii: branch('pii', k.pii),
    bedrock: branch('bedrock', k.bedrock),
    azure_content_safety: branch('azure_content_safety', k.azure_content_safety),
    azure_content_safety_text_moderation: branch(
      'azure_content_safety_text_moderation',
      k.azure_content_safety_text_moderation,
    ),
    aliyun_text_moderation: branch('aliyun_text_moderation', k.aliyun_text_moderation),
    aliyun_ai_guardrail: branch('aliyun_ai_guardrail', k.aliyun_ai_guardrail),
    lakera: branch('lakera', k.lakera),
    openai_moderation: branch('openai_moderation', k.openai_moderation),
    presidio: branch('presidio', k.presidio),
  });
}

export type Guardrail = v.InferOutput<ReturnType<typeof guardrailSchema>>;

export function guardrailAttachmentSchema(mode: Mode) {
  return openObj(mode, {
    guardrail_id: nonEmpty,
    scope_type: v.picklist(['env', 'model', 'api_key', 'team']),
    scope_id: v.nullish(v.string()),
    priority: i32,
    enabled: v.optional(v.boolean(), true),
    env_id: v.nullish(v.string()),
  });
}

export type GuardrailAttachment = v.InferOutput<ReturnType<typeof guardrailAttachmentSchema>>;
