-- Shared part of the scripts that read a child's guardian settings (heartbeat, reserve, guardian): the
-- store prepends it to each of them, so each stays one self-contained EVAL.
--
-- Field g of the user hash holds the settings: JSON written only by the guardian service (its format:
-- src/minorguard/rules/guardian.py). The scripts read h (allowed minutes per day-type letter), c
-- (purchase caps s, d, m in fen), t (0: tipping off), r (1: exempt from the rest reminder) and k (how
-- long to keep the hash, in seconds).

local function guardian_settings(raw)
  local ok, s = pcall(cjson.decode, raw)
  if not ok or type(s) ~= 'table' or s.v ~= 1 then
    error('minorguard: unreadable guardian settings')
  end
  return s
end

-- Settings outlive the child's counters: the hash is kept `k` seconds from the latest activity (or
-- change), refreshed at most once a day so a heartbeat seldom writes a TTL.
local function keep_settings(K, s)
  local keep = tonumber(s.k) or 0
  if keep > 0 and redis.call('TTL', K) < keep - 86400 then
    redis.call('EXPIRE', K, string.format('%d', keep))
  end
end

-- Whether the wall-clock `minute` lies in one of `periods` ({{start, end}, ...}, minutes, end excluded).
local function within(periods, minute)
  for _, p in ipairs(periods) do
    if p[1] <= minute and minute < p[2] then return true end
  end
  return false
end
