/**
 * Per-kind fields of `guardrails` (flattened into the guardrail document next to `kind`).
 * Local kinds (`keyword`, `pii`) run in process; the rest call a vendor. Nested credential
 * and pattern objects are closed; the guardrail root stays open (see `guardrails.ts`).
 */
import * as v from 'valibot';
import { discriminated, intRange, type Mode, map, nonEmpty, obj, strLen, u64, unit } from './common.js';
import { re2 } from './re2.js';

const ON_BUFFER_EXCEEDED = v.picklist(['fail_closed', 'fail_open']);
const ACTION = v.picklist(['mask', 'block']);
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_MAX_BUFFER_BYTES = 262_144;

/** Streaming window/buffer fields shared by the moderation kinds. */
function streaming(windowMax: number, overlap: number) {
  return {
    stream_processing_mode: v.optional(v.picklist(['window', 'buffer_full']), 'window'),
    window_size: v.optional(intRange(1, windowMax), windowMax),
    window_overlap_size: v.optional(u64, overlap),
    max_buffer_bytes: v.optional(u64, DEFAULT_MAX_BUFFER_BYTES),
    on_buffer_exceeded: v.optional(ON_BUFFER_EXCEEDED, 'fail_closed'),
  };
}

/** Buffer fields without defaults (kinds whose reference leaves them unset). */
const buffer = {
  max_buffer_bytes: v.optional(u64),
  on_buffer_exceeded: v.optional(ON_BUFFER_EXCEEDED),
};

const remote = {
  timeout_ms: v.optional(u64, DEFAULT_TIMEOUT_MS),
  output_fail_open: v.optional(v.boolean(), false),
};

/**
 * Guardrail regexes run on RE2's linear-time engine (re2js), so they are checked with its syntax
 * (`(?i)` inline flags, no backreferences or lookaround): a pattern that compiles here is one the
 * gateway can run without catastrophic backtracking.
 */
export function re2Compiles(s: string): boolean {
  try {
    re2().compile(s);
    return true;
  } catch {
    return false;
  }
}

const RE2_MESSAGE = 'regex must compile (RE2 syntax: no backreferences or lookaround)';

function keyword(mode: Mode) {
  const pattern = v.pipe(
    obj(mode, { kind: v.picklist(['literal', 'regex']), value: nonEmpty }),
    v.forward(
      v.check((p) => p.kind !== 'regex' || re2Compiles(p.value), RE2_MESSAGE),
      ['value'],
    ),
  );
  return { patterns: v.array(pattern) };
}

function bedrock(mode: Mode) {
  return {
    region: nonEmpty,
    guardrail_id: strLen(1, 64),
    guardrail_version: strLen(1, 16),
    aws_credentials: obj(mode, {
      kind: v.literal('static'),
      access_key_id: nonEmpty,
      secret_access_key: nonEmpty,
    }),
    latency_mode: discriminated('kind', {
      serial: obj(mode, { kind: v.literal('serial') }),
      timed: obj(mode, { kind: v.literal('timed'), timeout_ms: intRange(100, 5000) }),
    }),
    output_fail_open: v.optional(v.boolean(), false),
    // Ours: a VPC (PrivateLink) endpoint instead of https://bedrock-runtime.<region>.amazonaws.com.
    endpoint: v.optional(nonEmpty),
  };
}

const AZURE_CATEGORIES = ['Hate', 'Sexual', 'SelfHarm', 'Violence'] as const;

function azureTextModeration() {
  return {
    endpoint: nonEmpty,
    api_key: nonEmpty,
    categories: v.optional(v.array(v.picklist(AZURE_CATEGORIES)), () => [...AZURE_CATEGORIES]),
    blocklist_names: v.optional(v.array(v.string()), () => []),
    halt_on_blocklist_hit: v.optional(v.boolean(), false),
    output_type: v.optional(v.picklist(['FourSeverityLevels', 'EightSeverityLevels']), 'FourSeverityLevels'),
    severity_threshold: v.optional(intRange(0, 7), 2),
    severity_threshold_by_category: v.optional(map(intRange(0, 7)), () => ({})),
    text_source: v.optional(
      v.picklist(['concatenate_user_content', 'concatenate_all_content']),
      'concatenate_user_content',
    ),
    ...streaming(10_000, 256),
    ...remote,
  };
}

/** The built-in `pii` detector types (data-plane §11.2); the gateway implements each. */
export const PII_DETECTORS = [
  'email',
  'china_mobile',
  'china_id_card',
  'bank_card',
  'us_ssn',
  'ip_address',
  'api_key',
  'jwt',
  'private_key',
] as const;

const aliyunCredentials = { region: nonEmpty, access_key_id: nonEmpty, access_key_secret: nonEmpty };

function pii(mode: Mode) {
  const detector = obj(mode, {
    type: v.picklist(PII_DETECTORS),
    action: ACTION,
  });
  // A pattern without its own `action` takes `default_action` (data-plane §11.2: `action?`).
  const custom = obj(mode, {
    name: strLen(1, 64),
    regex: v.pipe(nonEmpty, v.check(re2Compiles, RE2_MESSAGE)),
    action: v.optional(ACTION),
  });
  return {
    detectors: v.optional(v.array(detector)),
    custom_patterns: v.optional(v.array(custom)),
    default_action: v.optional(ACTION, 'mask'),
    ...buffer,
  };
}

function presidio(mode: Mode) {
  return {
    analyzer_url: nonEmpty,
    anonymizer_url: nonEmpty,
    language: v.optional(v.string(), 'en'),
    entities: v.optional(v.array(obj(mode, { type: nonEmpty, action: ACTION }))),
    score_threshold: v.optional(unit),
    default_action: v.optional(ACTION),
    operator: v.optional(v.picklist(['replace', 'mask', 'hash', 'redact']), 'replace'),
    ...remote,
    ...buffer,
  };
}

export const GUARDRAIL_KINDS = [
  'keyword',
  'pii',
  'bedrock',
  'azure_content_safety',
  'azure_content_safety_text_moderation',
  'aliyun_text_moderation',
  'aliyun_ai_guardrail',
  'lakera',
  'openai_moderation',
  'presidio',
] as const;

/** Kind-specific entries, keyed by `kind`; `guardrails.ts` adds the common fields. */
export function guardrailKindEntries(mode: Mode) {
  return {
    keyword: keyword(mode),
    pii: pii(mode),
    bedrock: bedrock(mode),
    azure_content_safety: { endpoint: nonEmpty, api_key: nonEmpty, ...remote },
    azure_content_safety_text_moderation: azureTextModeration(),
    aliyun_text_moderation: {
      ...aliyunCredentials,
      endpoint: v.optional(v.string()),
      risk_level_threshold: v.optional(v.picklist(['low', 'medium', 'high']), 'high'),
      ...streaming(2000, 128),
      ...remote,
    },
    aliyun_ai_guardrail: {
      ...aliyunCredentials,
      endpoint: v.optional(v.string()),
      service_level: v.optional(v.picklist(['pro', 'basic']), 'pro'),
      ...streaming(2000, 128),
      ...remote,
    },
    lakera: {
      api_key: nonEmpty,
      endpoint: v.optional(v.string()),
      project_id: v.optional(v.string()),
      ...remote,
      ...buffer,
    },
    openai_moderation: {
      api_key: nonEmpty,
      endpoint: v.optional(v.string()),
      model: v.optional(v.string(), 'omni-moderation-latest'),
      category_thresholds: v.optional(map(unit), () => ({})),
      ...remote,
    },
    presidio: presidio(mode),
  } satisfies Record<(typeof GUARDRAIL_KINDS)[number], v.ObjectEntries>;
}
