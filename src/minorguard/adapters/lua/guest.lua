-- guest_heartbeat: count a guest device's play time in a window its first heartbeat opens.
--
-- KEYS[1]  mg:{g:<device>}:g   hash: w window end (epoch s), l last heartbeat (epoch s), u seconds used
-- ARGV     now, max_gap, window_seconds, limit_seconds
-- returns  {used seconds, 1 if used >= limit_seconds else 0, window end (epoch s)}
--
-- The key expires with its window, so the next heartbeat after it opens a new one. The first
-- heartbeat of a window adds nothing; later ones add the gap since the last, capped at max_gap. One
-- not after the last changes nothing, so a retried call is harmless.
local K = KEYS[1]
local now, max_gap = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local f = '%d'

local v = redis.call('HMGET', K, 'w', 'l', 'u')
local ends, last, used = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
if ends == nil or now >= ends then
  ends, used = now + window, 0
  redis.call('DEL', K)
  redis.call('HSET', K, 'w', f:format(ends), 'l', f:format(now), 'u', '0')
  redis.call('EXPIRE', K, f:format(window))
elseif now > last then
  used = used + math.min(now - last, math.max(max_gap, 0))
  redis.call('HSET', K, 'l', f:format(now), 'u', f:format(used))
end
return {used, used >= limit and 1 or 0, ends}
