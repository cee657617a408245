/**
 * `guardrails` and `guardrail_attachments`. A guardrail is the common fields plus `kind` and
 * that kind's fields, flattened into one document. Both roots are open: unknown top-level
 * fields are dropped on write (a client `id` is silently ignored) and kept-but-reported on
 * read; nested objects stay closed. Attachments scope a guardrail to a model, key or team.
 */
import * as v from 'valibot';
import { discriminated, i32, type Mode, nonEmpty, openObj, pathItem, rfc3339 } from './common.js';
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

/**
 * A `model`, `api_key` or `team` attachment governs the requests of the entry its `scope_id`
 * names. Without one it matches no request, yet it still takes the guardrail out of the
 * implicit env scope (control-plane §3.7: once any attachment names a guardrail, only
 * attachments govern it): the guardrail would silently stop applying everywhere. Refused on
 * write; the etcd read path stays lenient, so a stored row still loads (and matches nothing).
 */
function scopeIdOnWrite<T extends { scope_type: string; scope_id?: string | null | undefined }>(mode: Mode) {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    if (mode === 'lenient' || !dataset.typed) return;
    const { scope_type, scope_id } = dataset.value;
    if (scope_type === 'env' || (typeof scope_id === 'string' && scope_id !== '')) return;
    const why =
      'an attachment without one matches no request and takes the guardrail out of its implicit env scope';
    if (scope_id === '') {
      addIssue({
        message: `length must be >= 1 when scope_type is ${scope_type} (${why})`,
        path: [pathItem('scope_id', scope_id)],
      });
    } else addIssue({ message: `"scope_id" is required when scope_type is ${scope_type} (${why})` });
  });
}

export function guardrailAttachmentSchema(mode: Mode) {
  return v.pipe(
    openObj(mode, {
      guardrail_id: nonEmpty,
      scope_type: v.picklist(['env', 'model', 'api_key', 'team']),
      scope_id: v.nullish(v.string()),
      priority: i32,
      enabled: v.optional(v.boolean(), true),
      env_id: v.nullish(v.string()),
    }),
    scopeIdOnWrite(mode),
  );
}

export type GuardrailAttachment = v.InferOutput<ReturnType<typeof guardrailAttachmentSchema>>;
