-- reserve: hold part of a user's spending quota until commit, release or the reservation's deadline
-- (when it is counted as spent). (Runs after _guardian.lua and _spend.lua, which describe the fields of
-- the user hash.)
--
-- KEYS[1]  mg:{<user>}:u
-- ARGV     now, kind letter, amount, single_cap (-1: none), reservation id, answer digest ('': none),
--          reservation_ttl, answer_ttl, guardian (1: apply the child's guardian settings), then 4 per
--          bucket: period, cap (-1: none), ttl, the letter of its period (d day, m month, '-' other)
-- returns  {1, reservation id, replayed 0|1, lapsed ids, settings, period, committed, pending, ...}
--          {0, denial letter, replayed 0|1, lapsed ids, settings, period, committed, pending, ...}
--          totals per bucket in the order given (a replay gives the first call's answer); settings:
--          the guardian settings read ('' when none or not asked for).
-- Denial letters: s single, d day, m month (the policy's caps); S, D, M the guardian's caps, T tipping
-- turned off by the guardian; r a released id. The policy's caps are checked first, then the
-- guardian's, all in this one step: a guardian lowering a cap while purchases run never lets the
-- strictest cap in force be passed.
-- Safe to retry: a reservation id that exists already answers as a replay (ok, current totals),
-- unless it was released (or cancelled before it arrived: a tombstone): then it is denied with
-- letter 'r' and reserves nothing, so a delayed copy of a reserve whose caller gave up holds no quota.
-- An idempotency answer is replayed while its reservation is pending, committed, lapsed or refunded.
local K = KEYS[1]
local now, kind, amount = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local single_cap, id, digest = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local res_ttl, answer_ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
local raw = ARGV[9] == '1' and redis.call('HGET', K, 'g') or false
local s = nil
if raw then
  s = guardian_settings(raw)
  keep_settings(K, s)
end

local lapsed = sweep(K, now)
local answer_field = 'i' .. kind .. digest
-- An earlier answer is replayed unless it reserved and that reservation was released (the try
-- failed): then the key reserves afresh. A lapsed reservation went ahead as far as anyone can tell.
-- The digest covers key and amount (see storecommon.py).
if digest ~= '' then
  local v = redis.call('HGET', K, answer_field)
  if v then
    local a = split(v)
    local live = a[2] == '0'
    if not live then
      local _, r = load_reservation(K, a[3])
      live = r ~= nil and r[2] ~= 'r'
    end
    if live then
      if a[2] == '1' then  -- handed out again: a cancel of the first call must leave it alone now
        a[2] = '2'
        redis.call('HSET', K, answer_field, table.concat(a, ':'))
      end
      local out = {a[2] == '0' and 0 or 1, a[3], 1, lapsed, raw or ''}
      for j = 4, #a do out[#out + 1] = a[j] end
      return out
    end
  end
end

local buckets, totals = {}, {}
local held = redis.call('HGET', K, 'r' .. id)
local state = held and split(held)[2]
local replay = held and state ~= 'r' and state ~= 't'  -- a retry whose first answer was lost
local denial = nil
if held and not replay then denial = 'r' end
if not held and single_cap >= 0 and amount > single_cap then denial = 's' end
local keep = res_ttl
for i = 10, #ARGV, 4 do
  local period, cap, ttl = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local field = 'b' .. kind .. period
  local b = get_bucket(K, field, now) or {0, ttl, 0, 0}
  if not held and not denial and cap >= 0 and b[3] + b[4] + amount > cap then denial = ARGV[i + 3] end
  buckets[#buckets + 1] = {field, period, ttl, b, ARGV[i + 3]}
  keep = math.max(keep, ttl)
end
if s and not held and not denial then  -- the guardian's settings, after the policy's caps
  local caps = kind == 'p' and type(s.c) == 'table' and s.c or {}
  if kind == 't' and s.t == 0 then
    denial = 'T'
  elseif caps.s and amount > caps.s then
    denial = 'S'
  else
    for _, e in ipairs(buckets) do
      local b, cap = e[4], caps[e[5]]
      if not denial and cap and b[3] + b[4] + amount > cap then denial = string.upper(e[5]) end
    end
  end
end

local ok = not held and not denial
local periods = {}
for _, e in ipairs(buckets) do
  local b = e[4]
  if ok then
    b[4] = b[4] + amount
    b[2] = e[3]
    b[1] = math.max(b[1], now + e[3])
    put_bucket(K, e[1], b)
    note(K, b[1])
  end
  periods[#periods + 1] = e[2]
  totals[#totals + 1] = string.format('%s:%d:%d', e[2], b[3], b[4])
end
if ok then
  local record = string.format('%d:p:%s:%d:%d', now + res_ttl, kind, amount, keep)
  if #periods > 0 then record = record .. ':' .. table.concat(periods, ':') end
  redis.call('HSET', K, 'r' .. id, record)
  note(K, now + res_ttl)
end
local out = {(ok or replay) and 1 or 0, (ok or replay) and id or denial, replay and 1 or 0, lapsed, raw or ''}
for _, part in ipairs(split(table.concat(totals, ':'))) do out[#out + 1] = part end
if held then return out end  -- a retry or a refused id: no answer is remembered for the key

local answer = string.format('%d:%d:%s', now + answer_ttl, ok and 1 or 0, out[2])
if #totals > 0 then answer = answer .. ':' .. table.concat(totals, ':') end
if digest ~= '' then
  redis.call('HSET', K, answer_field, answer)
  note(K, now + answer_ttl)
end
if ok then keep_key(K, now, now + keep) end
if digest ~= '' then keep_key(K, now, now + answer_ttl) end
return out
