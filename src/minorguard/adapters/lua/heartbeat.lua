-- play_heartbeat: add the time since a user's last heartbeat to their play time of the local day.
-- (Runs after _guardian.lua.)
--
-- KEYS[1]  mg:{<user>}:u   the user hash; play fields (values are integers or day names):
--            l  last heartbeat (epoch s)         L  play fields are void from this time (epoch s)
--            d  name of the day                  D  seconds played on d
--            p  name of the day before           P  seconds played on p
--            s  start of the play session: the first heartbeat after a break (the rest reminder)
--            o  the process that holds the lease ending at l ('*': shared, given back by none)
--          and g, the guardian settings (read here; written by guardian.lua)
-- ARGV     now, day, prev_day, day_start, max_gap, limit_seconds, ttl_seconds   (epoch s / s), then
--          the day type's letter ('': guardian settings are not read), the wall-clock minute of the
--          day, break seconds (0: no session tracking), rest after (0: no enforced rest), exemptable
-- returns  {used seconds of `day`, 1 if used >= limit_seconds else 0, guardian settings or '',
--           seconds from the session's start to the latest counted heartbeat, that heartbeat or 0,
--           1 if this heartbeat was counted else 0}
--
-- The gap is capped at max_gap; the part of [now - gap, now) before day_start counts for prev_day.
-- A first heartbeat, or one not after the last, adds nothing and changes nothing: so a retried call
-- (same now) is harmless. Nor is a heartbeat counted outside the guardian's hours of the day type, or
-- while an enforced rest is due (the session reached `rest after` and no break has passed since), unless
-- the guardian exempted the child and the policy lets them: time refused is not time played.
--
-- A lease charges play ahead: l moves to the lease's end and D counts up to it, so the heartbeats
-- before it add nothing, from any process; the answer's used and session count up to l, and the caller
-- subtracts what lies ahead. It never passes `until` (the window's or the day's end), the limit (the
-- guardian's where lower), the end of the guardian's hours or the start of an enforced rest. The owner
-- gives back the unused tail [seen, held) of its own lease at its next call, unless another process was
-- told of it meanwhile (o = '*'): a lease is only ever over-counted, by at most its length.
local K = KEYS[1]
local now, day, prev_day = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local day_start, max_gap = tonumber(ARGV[4]), tonumber(ARGV[5])
local limit, ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local letter, minute = ARGV[8] or '', tonumber(ARGV[9]) or 0
local brk, rest_after = tonumber(ARGV[10]) or 0, tonumber(ARGV[11]) or 0
local exemptable = ARGV[12] == '1'
local lease, lease_until, owner = tonumber(ARGV[13]) or 0, tonumber(ARGV[14]) or 0, ARGV[15] or ''
local held, seen = tonumber(ARGV[16]) or 0, tonumber(ARGV[17]) or 0

local v = redis.call('HMGET', K, 'l', 'L', 'd', 'D', 'p', 'P', 's', 'g', 'o')
local live = tonumber(v[2]) ~= nil and tonumber(v[2]) > now
local f = '%d'

-- The unused tail of this process's own lease, told to nobody else, goes back (within the lease's day:
-- a lease never crosses midnight).
local gave_back = false
if live and owner ~= '' and v[9] == owner and held > 0 and tonumber(v[1]) == held and seen < now
    and held - seen > 0 and held - seen <= lease then
  v[4] = f:format(math.max((tonumber(v[4]) or 0) - (held - seen), 0))
  v[1] = f:format(seen)
  gave_back = true
end

local function played(name)
  if live and v[3] == name then return tonumber(v[4]) end
  if live and v[5] == name then return tonumber(v[6]) end
  return 0
end

local last = live and tonumber(v[1]) or nil
local start = live and tonumber(v[7]) or nil
local raw = letter ~= '' and v[8] or false
local used = played(day)
local function answer(counted)
  local session = (last and start) and (last - start) or 0
  return {used, used >= limit and 1 or 0, raw or '', session, last or 0, counted}
end
local function refused()
  if gave_back then redis.call('HSET', K, 'l', v[1], 'D', v[4]) redis.call('HDEL', K, 'o') end
  return answer(0)
end

local s = nil
if raw then
  s = guardian_settings(raw)
  keep_settings(K, s)
end
if last ~= nil and now <= last then
  -- a repeat, or a heartbeat under another process's lease: that one is shared now
  -- (a caller without leases too: its heartbeat lies in the lease, so the owner must not give it back)
  if v[9] and v[9] ~= owner and v[9] ~= '*' then redis.call('HSET', K, 'o', '*') end
  return answer(0)
end
local hours = s and type(s.h) == 'table' and s.h[letter] or nil
if hours ~= nil and not within(hours, minute) then return refused() end
local exempt = exemptable and s and s.r == 1
if rest_after > 0 and last and start and last - start >= rest_after and now - last <= brk and not exempt then
  return refused()
end

local gap, before = 0, 0
if last ~= nil then
  gap = math.min(now - last, math.max(max_gap, 0))
  before = math.min(math.max(day_start - (now - gap), 0), gap)
end
used = used + gap - before
if brk > 0 and (last == nil or start == nil or now - last > brk) then start = now end

local ahead = 0
if lease > 0 and owner ~= '' then
  local most = limit
  if s and type(s.m) == 'table' and tonumber(s.m[letter]) then most = math.min(most, tonumber(s.m[letter]) * 60) end
  ahead = math.min(lease, lease_until - now, most - used)
  if hours ~= nil then
    for _, p in ipairs(hours) do
      if p[1] <= minute and minute < p[2] then ahead = math.min(ahead, (p[2] - minute) * 60 - now % 60) end
    end
  end
  if rest_after > 0 and brk > 0 and not exempt then ahead = math.min(ahead, start + rest_after - now) end
  if ahead < 0 then ahead = 0 end
end

-- One write. L (the play fields' expiry) and the hash's TTL move on only when less than a 24th of
-- ttl (an hour at most) is left of what the last refresh gave: the TTL is always at least L, and most
-- heartbeats skip the TTL and EXPIRE calls.
local w = {'l', f:format(now + ahead), 'd', day, 'D', f:format(used + ahead)}
local n = 6
if v[5] ~= prev_day or before > 0 or not live then
  w[n + 1], w[n + 2], w[n + 3], w[n + 4], n = 'p', prev_day, 'P', f:format(played(prev_day) + before), n + 4
end
local refresh = not live or tonumber(v[2]) < now + ttl - math.min(3600, math.floor(ttl / 24))
if refresh then w[n + 1], w[n + 2], n = 'L', f:format(now + ttl), n + 2 end
if ahead > 0 then w[n + 1], w[n + 2], n = 'o', owner, n + 2 end
if brk > 0 then w[n + 1], w[n + 2], n = 's', f:format(start), n + 2 end
redis.call('HSET', K, unpack(w, 1, n))
local gone, g = {}, 0  -- no lease, or no session tracking now (a later session must not start from an old one)
if ahead == 0 and v[9] then g = g + 1; gone[g] = 'o' end
if brk == 0 and v[7] then g = g + 1; gone[g] = 's' end
if g > 0 then redis.call('HDEL', K, unpack(gone, 1, g)) end
if brk == 0 then start = nil end
used, last = used + ahead, now + ahead
-- The hash may also hold spending or settings that must live longer: only ever lengthen its TTL.
if refresh and redis.call('TTL', K) < ttl then redis.call('EXPIRE', K, f:format(ttl)) end
return answer(1)
