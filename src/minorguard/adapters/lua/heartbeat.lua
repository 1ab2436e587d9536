-- play_heartbeat: add the time since a user's last heartbeat to their play time of the local day.
--
-- KEYS[1]  mg:{<user>}:u   the user hash; play fields (values are integers or day names):
--            l  last heartbeat (epoch s)         L  play fields are void from this time (epoch s)
--            d  name of the day                  D  seconds played on d
--            p  name of the day before           P  seconds played on p
-- ARGV     now, day, prev_day, day_start, max_gap, limit_seconds, ttl_seconds   (epoch s / s)
-- returns  {used seconds of `day`, 1 if used >= limit_seconds else 0}
--
-- The gap is capped at max_gap; the part of [now - gap, now) before day_start counts for prev_day.
-- A first heartbeat, or one not after the last, adds nothing and changes nothing: so a retried call
-- (same now) is harmless.
local K = KEYS[1]
local now, day, prev_day = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local day_start, max_gap = tonumber(ARGV[4]), tonumber(ARGV[5])
local limit, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])

local v = redis.call('HMGET', K, 'l', 'L', 'd', 'D', 'p', 'P')
local live = tonumber(v[2]) ~= nil and tonumber(v[2]) > now
local function played(name)
  if live and v[3] == name then return tonumber(v[4]) end
  if live and v[5] == name then return tonumber(v[6]) end
  return 0
end

local last = live and tonumber(v[1]) or nil
local used = played(day)
if last ~= nil and now <= last then
  return {used, used >= limit and 1 or 0}
end

local gap, before = 0, 0
if last ~= nil then
  gap = math.min(now - last, math.max(max_gap, 0))
  before = math.min(math.max(day_start - (now - gap), 0), gap)
end
used = used + gap - before
local f = '%d'
redis.call('HSET', K, 'l', f:format(now), 'L', f:format(now + ttl),
  'p', prev_day, 'P', f:format(played(prev_day) + before), 'd', day, 'D', f:format(used))
-- The hash may also hold spending that must live longer: only ever lengthen its TTL.
if redis.call('TTL', K) < ttl then redis.call('EXPIRE', K, f:format(ttl)) end
return {used, used >= limit and 1 or 0}
