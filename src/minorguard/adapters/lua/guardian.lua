-- guardian: read, replace or clear a child's guardian settings. (Runs after _guardian.lua.)
--
-- KEYS[1]  mg:{<user>}:u   the child's user hash; field g holds the settings (JSON, see _guardian.lua)
-- ARGV     op ('get' | 'set' | 'clear'), then for 'set': the settings and how long to keep the hash
-- returns  the settings before this call, or '' when there were none
--
-- A set keeps the hash at least as long as the settings ask (heartbeats and reservations refresh that
-- while the child is active); a clear removes the field alone, and the counters keep their own TTL.
local K = KEYS[1]
local op = ARGV[1]
local before = redis.call('HGET', K, 'g')
if op == 'set' then
  local keep = tonumber(ARGV[3])
  redis.call('HSET', K, 'g', ARGV[2])
  if redis.call('TTL', K) < keep then redis.call('EXPIRE', K, string.format('%d', keep)) end
elseif op == 'clear' then
  redis.call('HDEL', K, 'g')
end
return before or ''
