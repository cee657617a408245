/**
 * `api_keys`: caller keys, stored only as the lowercase hex SHA-256 of the bearer plaintext.
 * The whole document is accepted on admin writes (identity, limits, MCP/A2A access, expiry);
 * `disabled: false` is dropped from the stored form, as the reference omits it. Hashing and
 * key generation live in `secrets.ts`.
 */
import * as v from 'valibot';
import { carryUnknown, type Mode, map, nonEmpty, obj, rateLimit, rfc3339, u32, u64 } from './common.js';

export const KEY_HASH_PATTERN = /^[0-9a-f]{64}$/;

/** Most keys a rotation with a grace window keeps valid at once (earlier rotations included). */
export const MAX_PREVIOUS_KEYS = 10;

const strictKeyHash = v.pipe(
  v.string(),
  v.regex(KEY_HASH_PATTERN, 'must be a lowercase hex SHA-256 (64 characters)'),
);

/**
 * Written through the Admin API or a file, a `key_hash` must be what a presented key hashes to
 * (any other value could never match). Read from the store it only has to be non-empty, as the
 * contract types it (control-plane §3.3): a document another tool wrote loads (and matches no
 * key) instead of being rejected.
 */
const keyHashFor = (mode: Mode) => (mode === 'strict' ? strictKeyHash : nonEmpty);

/**
 * Keys replaced by a rotation with a grace window: each still authenticates as this api key
 * (same id, so the same limits) until its absolute `expires_at`, which every replica compares
 * with its own clock per request, so the window ends everywhere without any timer or write.
 */
function previousKey(mode: Mode) {
  return obj(mode, { key_hash: keyHashFor(mode), expires_at: rfc3339 });
}

function mcpAccess(mode: Mode) {
  return obj(mode, {
    mode: v.picklist(['inherit', 'restrict', 'deny']),
    allow: v.optional(v.array(v.string())),
    deny: v.optional(v.array(v.string())),
  });
}

/** Per-MCP-server limits: request counts and concurrency only (no token dimensions). */
function mcpRateLimit(mode: Mode) {
  return obj(mode, {
    rps: v.optional(u64),
    rpm: v.optional(u64),
    rph: v.optional(u64),
    rpd: v.optional(u64),
    concurrency: v.optional(u32),
  });
}

export function apiKeySchema(mode: Mode) {
  return v.pipe(
    obj(mode, {
      key_hash: keyHashFor(mode),
      allowed_models: v.array(v.string()),
      display_name: v.nullish(v.string()),
      rate_limit: v.optional(rateLimit(mode)),
      team_id: v.optional(nonEmpty),
      user_id: v.optional(nonEmpty),
      user_name: v.optional(v.string()),
      jwt_subject: v.optional(nonEmpty),
      jwt_provider: v.optional(nonEmpty),
      allowed_tools: v.nullish(v.array(v.string())),
      mcp_access: v.optional(mcpAccess(mode)),
      mcp_rate_limits: v.optional(map(mcpRateLimit(mode))),
      allowed_agents: v.nullish(v.array(v.string())),
      expires_at: v.nullish(rfc3339),
      disabled: v.optional(v.boolean()),
      previous_keys: v.optional(
        v.pipe(
          v.array(previousKey(mode)),
          v.maxLength(MAX_PREVIOUS_KEYS, `must hold at most ${MAX_PREVIOUS_KEYS} keys`),
        ),
      ),
    }),
    v.transform((o) => {
      if (o.disabled !== false) return o;
      const { disabled: _omitted, ...rest } = o;
      return carryUnknown(o, rest);
    }),
  );
}

export type ApiKey = v.InferOutput<ReturnType<typeof apiKeySchema>>;
