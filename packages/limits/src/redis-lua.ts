/**
 * The Lua scripts of the Redis counter store (acquire, commit, release, abandon, refresh). Each runs
 * atomically on the node owning the bucket's hash slot and reads the window position from
 * `redis.call('TIME')`, so every replica shares one clock: the Redis server's.
 *
 * KEYS[1] is the bucket's key base `<prefix>rl:{<bucket>}`; the scripts derive the per-window
 * keys from it (`<base>:<dim>:<window_start>`, reservations `<base>:<dim>_r:<window_start>`,
 * slots `<base>:conc`, members = grant ids, and per grant with a reservation a marker
 * `<base>:res:<grant id>` holding the acquire's time, so ABANDON can find the reservation). Every derived key carries the same `{<bucket>}` hash tag as KEYS[1],
 * so they live in the same slot and the scripts work on Redis Cluster. Redis 7 replicates
 * script effects, so reading TIME before writing is allowed.
 *
 * Dimension indices match windows.ts: 1..4 = rps, rpm, rph, rpd; 5..6 = tpm, tpd; 7 = slots.
 * A limit argument of -1 means "not configured".
 */
import { luaScript } from '@aisix/redis';

const PRELUDE = `
local base = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1])
local nowMs = now * 1000 + math.floor(tonumber(t[2]) / 1000)
local W = {1, 60, 3600, 86400, 60, 86400}
local N = {'rps', 'rpm', 'rph', 'rpd', 'tpm', 'tpd'}
`;

/**
 * ARGV: 1..7 limits (rps rpm rph rpd tpm tpd concurrency), 8 grant id, 9 tokens to reserve,
 * 10 slot TTL in ms. The grant id is chosen by the gateway before the call: the slot member
 * and the reservation marker are named by it, so an acquire whose reply never came can be
 * undone by ABANDON.
 * Reply: refused {0, nowMs, reason(1 requests, 2 tokens, 3 concurrency), dim index};
 * admitted {1, nowMs, c_rps, c_rpm, c_rph, c_rpd, used_tpm, used_tpd, in_flight} where the
 * counts include this acquire (used = committed + reserved).
 */
export const ACQUIRE = luaScript(`${PRELUDE}
local lim = {}
for i = 1, 7 do lim[i] = tonumber(ARGV[i]) end
local ttlMs = tonumber(ARGV[10])
local ckey = base .. ':conc'
local inflight = 0
if lim[7] >= 0 then
  -- Slots older than the TTL were leaked by a holder that never settled: reclaim them.
  redis.call('ZREMRANGEBYSCORE', ckey, '-inf', nowMs - ttlMs)
  inflight = redis.call('ZCARD', ckey)
  if inflight >= lim[7] then return {0, nowMs, 3, 7} end
end
local used = {0, 0}
for j = 5, 6 do
  if lim[j] >= 0 then
    local s = now - now % W[j]
    local u = tonumber(redis.call('GET', base .. ':' .. N[j] .. ':' .. s) or '0')
    local r = tonumber(redis.call('GET', base .. ':' .. N[j] .. '_r:' .. s) or '0')
    if r < 0 then r = 0 end
    if lim[j] == 0 or u + r > lim[j] then return {0, nowMs, 2, j} end
    used[j - 4] = u + r
  end
end
local cnt = {0, 0, 0, 0}
-- Check every request window before incrementing any: no undo is ever needed.
for i = 1, 4 do
  if lim[i] >= 0 then
    local c = tonumber(redis.call('GET', base .. ':' .. N[i] .. ':' .. (now - now % W[i])) or '0')
    if c + 1 > lim[i] then return {0, nowMs, 1, i} end
  end
end
for i = 1, 4 do
  if lim[i] >= 0 then
    local k = base .. ':' .. N[i] .. ':' .. (now - now % W[i])
    local c = redis.call('INCR', k)
    if c == 1 then redis.call('EXPIRE', k, W[i] + 5) end
    cnt[i] = c
  end
end
local reserve = tonumber(ARGV[9])
if reserve > 0 and (lim[5] >= 0 or lim[6] >= 0) then
  local longest = 0
  for j = 5, 6 do
    if lim[j] >= 0 then
      local k = base .. ':' .. N[j] .. '_r:' .. (now - now % W[j])
      local r = redis.call('INCRBY', k, reserve)
      if r == reserve then redis.call('EXPIRE', k, W[j] + 5) end
      used[j - 4] = used[j - 4] + reserve
      longest = W[j]
    end
  end
  -- Outlives every reservation window it points into; commit/release delete it.
  redis.call('SET', base .. ':res:' .. ARGV[8], now, 'EX', longest + 5)
end
if lim[7] >= 0 then
  redis.call('ZADD', ckey, nowMs, ARGV[8])
  redis.call('PEXPIRE', ckey, ttlMs + 5000)
  inflight = inflight + 1
end
return {1, nowMs, cnt[1], cnt[2], cnt[3], cnt[4], used[1], used[2], inflight}
`);

/**
 * Drops a reservation from the window it was made in. The counter is only touched while it
 * exists (a DECRBY on an expired key would create a negative, TTL-less counter) and never
 * goes below zero.
 */
const UNRESERVE = `
local function unreserve(j, made, amount)
  if made < 0 or amount <= 0 then return end
  local rk = base .. ':' .. N[j] .. '_r:' .. made
  local r = tonumber(redis.call('GET', rk))
  if r == nil then return end
  if r <= amount then redis.call('DEL', rk) else redis.call('DECRBY', rk, amount) end
end
`;

/**
 * ARGV: 1 tokens, 2 reserved, 3 tpm window of the grant (-1 none), 4 tpd window, 5 grant id,
 * 6 slot taken (1/0). Tokens go to the window current now, not the one of the acquire.
 */
export const COMMIT = luaScript(`${PRELUDE}${UNRESERVE}
local tokens = tonumber(ARGV[1])
local reserved = tonumber(ARGV[2])
for j = 5, 6 do
  local made = tonumber(ARGV[j - 2])
  if made >= 0 then
    unreserve(j, made, reserved)
    if tokens > 0 then
      local k = base .. ':' .. N[j] .. ':' .. (now - now % W[j])
      local u = redis.call('INCRBY', k, tokens)
      if u == tokens then redis.call('EXPIRE', k, W[j] + 5) end
    end
  end
end
if reserved > 0 then redis.call('DEL', base .. ':res:' .. ARGV[5]) end
if ARGV[6] == '1' then redis.call('ZREM', base .. ':conc', ARGV[5]) end
return 1
`);

/**
 * ARGV: 1 rollback (1/0), 2..5 request windows of the grant (rps rpm rph rpd, -1 none),
 * 6 reserved, 7 tpm window, 8 tpd window, 9 grant id, 10 slot taken (1/0).
 * A rollback only decrements windows that are still current and above zero.
 */
export const RELEASE = luaScript(`${PRELUDE}${UNRESERVE}
if ARGV[1] == '1' then
  for i = 1, 4 do
    local made = tonumber(ARGV[i + 1])
    if made >= 0 and made == now - now % W[i] then
      local k = base .. ':' .. N[i] .. ':' .. made
      local c = tonumber(redis.call('GET', k))
      if c ~= nil and c > 0 then redis.call('DECR', k) end
    end
  end
end
local reserved = tonumber(ARGV[6])
unreserve(5, tonumber(ARGV[7]), reserved)
unreserve(6, tonumber(ARGV[8]), reserved)
if reserved > 0 then redis.call('DEL', base .. ':res:' .. ARGV[9]) end
if ARGV[10] == '1' then redis.call('ZREM', base .. ':conc', ARGV[9]) end
return 1
`);

/**
 * Undoes an acquire whose reply was lost (timeout, connection dropped after the send): it may
 * or may not have run. ARGV: 1 grant id, 2 tokens it would have reserved, 3 tpm limited (1/0),
 * 4 tpd limited (1/0), 5 concurrency limited (1/0). Frees the slot member named by the id and,
 * when the acquire's reservation marker exists, the reservation in the windows the acquire ran
 * in (read from the marker). Idempotent: nothing to remove when the acquire never ran, was
 * refused, or was already settled or undone. Request counts stay (the request was served).
 */
export const ABANDON = luaScript(`${PRELUDE}${UNRESERVE}
local id = ARGV[1]
local mk = base .. ':res:' .. id
local at = tonumber(redis.call('GET', mk))
if at ~= nil then
  local reserved = tonumber(ARGV[2])
  for j = 5, 6 do
    if ARGV[j - 2] == '1' then unreserve(j, at - at % W[j], reserved) end
  end
  redis.call('DEL', mk)
end
if ARGV[5] == '1' then redis.call('ZREM', base .. ':conc', id) end
return 1
`);

/**
 * Keeps the slots of running requests (members named by their grant ids) from being pruned as
 * leaked. ARGV: 1 slot TTL in ms, 2.. grant ids. Slots older than the TTL are pruned first, as
 * an acquire would: a slot the TTL already reclaimed is not revived (XX: no member is added),
 * since its place may have been given away. The others get the server time as their score, and
 * the set's own expiry is pushed back like an acquire does, so a set holding only long-lived
 * slots does not expire under them. Reply: how many slots were refreshed.
 */
export const REFRESH = luaScript(`${PRELUDE}
local ttlMs = tonumber(ARGV[1])
local ckey = base .. ':conc'
redis.call('ZREMRANGEBYSCORE', ckey, '-inf', nowMs - ttlMs)
local n = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', ckey, ARGV[i]) then
    redis.call('ZADD', ckey, 'XX', nowMs, ARGV[i])
    n = n + 1
  end
end
if n > 0 then redis.call('PEXPIRE', ckey, ttlMs + 5000) end
return n
`);
