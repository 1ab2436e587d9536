-- Shared part of the spend scripts (reserve, commit, release, refund, usage). It is not a script of
-- its own: the store prepends it to each of them, so each stays one self-contained EVAL.
--
-- KEYS[1] = mg:{<user>}:u, the user hash. Spend fields (k = kind letter: p purchase, t tip):
--   b<k><period>   bucket       expires_at:ttl:committed:pending
--   r<id>          reservation  expires_at:state:k:amount:keep_ttl:period[:period...]
--                  state p pending (expires_at = its deadline), c committed, l lapsed (nobody settled
--                  it by its deadline, so it was counted as spent then; a release may still undo it),
--                  r released, f refunded (expires_at = end of its retention, keep_ttl after it was
--                  settled or lapsed), t tombstone (released before any reserve of the id arrived:
--                  one that arrives later reserves nothing; kind '-', amount 0, no periods)
--   i<k><digest>   answer       expires_at:ok:reservation id or denial letter[:period:committed:pending...]
--                  ok 0 denied, 1 reserved, 2 reserved and replayed since (someone else may hold the
--                  reservation now: a cancel leaves it alone)
--   x              no expires_at above is earlier: nothing needs a sweep before then
-- One-letter fields belong to play time (heartbeat.lua). All times are the caller's epoch seconds.
--
-- When unsure, the cap is a ceiling: a pending reservation that reaches its deadline is counted as
-- spent (its amount moves from pending to committed), never silently given back. A purchase that
-- failed gives its amount back only by an explicit release. Every script that sweeps answers the ids
-- it found lapsed (kind letter + id, sorted), so the caller can count and log them.
local F = '%d'

local function split(s)
  local out = {}
  for part in string.gmatch(s, '[^:]+') do out[#out + 1] = part end
  return out
end

-- A bucket as {expires_at, ttl, committed, pending}; missing or expired reads as nil.
local function get_bucket(K, field, now)
  local v = redis.call('HGET', K, field)
  if not v then return nil end
  local a = split(v)
  local b = {tonumber(a[1]), tonumber(a[2]), tonumber(a[3]), tonumber(a[4])}
  if b[1] <= now then return nil end
  return b
end

local function put_bucket(K, field, b)
  redis.call('HSET', K, field, string.format('%d:%d:%d:%d', b[1], b[2], b[3], b[4]))
end

-- Remember the earliest expiry, so calls before it skip the sweep.
local function note(K, expires_at)
  local x = tonumber(redis.call('HGET', K, 'x'))
  if not x or expires_at < x then redis.call('HSET', K, 'x', F:format(expires_at)) end
end

-- The key outlives everything in it; its TTL only ever grows (play time may need less).
local function keep_key(K, now, expires_at)
  if redis.call('TTL', K) < expires_at - now then
    redis.call('EXPIRE', K, F:format(expires_at - now))
  end
end

-- Read-only: what a sweep at `now` would do. Nil when none is due, else {fields that expired,
-- amount per bucket field that lapsed reservations move from pending to committed, {field, record}
-- of each lapsed reservation still within its retention, the earliest expiry that remains, the
-- latest retention a lapse gave, the lapsed ids (kind letter + id, sorted)}.
local function due(K, now)
  local x = tonumber(redis.call('HGET', K, 'x'))
  if not x or x > now then return nil end
  local all = redis.call('HGETALL', K)
  local dead, moved, kept, ids, earliest, latest = {}, {}, {}, {}, nil, 0
  for i = 1, #all, 2 do
    local field, c = all[i], string.sub(all[i], 1, 1)
    if #field > 1 and (c == 'b' or c == 'r' or c == 'i') then
      local a = split(all[i + 1])
      local e = tonumber(a[1])
      if c == 'r' and a[2] == 'p' and e <= now then
        for j = 6, #a do
          local bf = 'b' .. a[3] .. a[j]
          moved[bf] = (moved[bf] or 0) + tonumber(a[4])
        end
        ids[#ids + 1] = a[3] .. string.sub(field, 2)
        e = e + tonumber(a[5])  -- retained as if it had been committed at its deadline
        a[1], a[2] = F:format(e), 'l'
        if e > now then
          kept[#kept + 1] = {field, table.concat(a, ':')}
          if e > latest then latest = e end
        end
      end
      if e > now then
        if not earliest or e < earliest then earliest = e end
      else
        dead[#dead + 1] = field
      end
    end
  end
  table.sort(ids)
  return {dead, moved, kept, earliest, latest, ids}
end

-- Drop what expired; a pending reservation past its deadline lapses: its amount is committed in
-- the buckets still live (no bucket is brought back or prolonged). Returns the lapsed ids.
local function sweep(K, now)
  local found = due(K, now)
  if not found then return {} end
  for field, amount in pairs(found[2]) do
    local b = get_bucket(K, field, now)
    if b then
      b[3] = b[3] + amount
      b[4] = math.max(b[4] - amount, 0)
      put_bucket(K, field, b)
    end
  end
  for _, kv in ipairs(found[3]) do redis.call('HSET', K, kv[1], kv[2]) end
  local dead = found[1]
  for i = 1, #dead, 1000 do  -- unpack() has a stack limit
    redis.call('HDEL', K, unpack(dead, i, math.min(i + 999, #dead)))
  end
  if found[4] then
    redis.call('HSET', K, 'x', F:format(found[4]))
  else
    redis.call('HDEL', K, 'x')
  end
  if found[5] > now then keep_key(K, now, found[5]) end
  return found[6]
end

-- Add to the buckets of reservation `a` (split record); counters never go below zero. A missing
-- bucket is created only when `create` (a commit whose bucket expired meanwhile).
local function add(K, a, now, pending, committed, create)
  for j = 6, #a do
    local field = 'b' .. a[3] .. a[j]
    local b = get_bucket(K, field, now)
    if not b and create then b = {0, tonumber(a[5]), 0, 0} end
    if b then
      b[3] = math.max(b[3] + committed, 0)
      b[4] = math.max(b[4] + pending, 0)
      b[1] = math.max(b[1], now + b[2])
      put_bucket(K, field, b)
      note(K, b[1])
    end
  end
end

-- Load reservation `id` after a sweep: its field and split record, or nil when unknown (a
-- tombstone is unknown too: no reservation was ever made under it).
local function load_reservation(K, id)
  local field = 'r' .. id
  local v = redis.call('HGET', K, field)
  if not v then return field, nil end
  local a = split(v)
  if a[2] == 't' then return field, nil end
  return field, a
end
