-- guardian_feed: which children's guardian settings changed lately. Processes that answer heartbeats
-- under a play-time lease ask every few seconds, and stop answering alone for those children.
--
-- KEYS[1]  mg:{guardian-feed}:f   a sorted set: member = user, score = epoch s of the latest change
-- ARGV     'add', now, user   record a change, and forget those more than an hour old
--          'since', t         the users changed at or after t
local K = KEYS[1]
if ARGV[1] == 'add' then
  local now = tonumber(ARGV[2])
  redis.call('ZADD', K, ARGV[2], ARGV[3])
  redis.call('ZREMRANGEBYSCORE', K, '-inf', string.format('%d', now - 3600))
  redis.call('EXPIRE', K, 3600)
  return 1
end
return redis.call('ZRANGEBYSCORE', K, ARGV[2], '+inf')
