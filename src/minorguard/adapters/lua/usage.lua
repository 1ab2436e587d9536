-- usage: a read-only snapshot of one user's counters (writes nothing, not even a sweep).
-- (Runs after _spend.lua, which describes the fields of the user hash; heartbeat.lua the play ones.)
--
-- KEYS[1]  mg:{<user>}:u
-- ARGV     now, day, purchase bucket field of the month, tip bucket fields of the day and the month
-- returns  {played seconds on day, last heartbeat or -1, month committed, month pending,
--           tips committed on day, tips committed in month}
local K = KEYS[1]
local now, day = tonumber(ARGV[1]), ARGV[2]
local v = redis.call('HMGET', K, 'l', 'L', 'd', 'D', 'p', 'P')
local played, last = 0, -1
if tonumber(v[2]) ~= nil and tonumber(v[2]) > now then
  last = tonumber(v[1])
  if v[3] == day then played = tonumber(v[4]) elseif v[5] == day then played = tonumber(v[6]) end
  if last > now then  -- a lease charged ahead (heartbeat.lua): played up to now, not up to its end
    if v[3] == day then played = math.max(played - (last - now), 0) end
    last = now
  end
end

-- Reservations past their deadline count as committed, whether or not a sweep lapsed them yet.
local found = due(K, now)
local function committed_pending(field)
  local b = get_bucket(K, field, now)
  if not b then return 0, 0 end
  local moved = found and found[2][field] or 0
  return b[3] + moved, math.max(b[4] - moved, 0)
end
local month_c, month_p = committed_pending(ARGV[3])
local tip_day = committed_pending(ARGV[4])
local tip_month = committed_pending(ARGV[5])
return {played, last, month_c, month_p, tip_day, tip_month}
