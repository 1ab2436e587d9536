-- release: an unpaid reservation gives its amount back: pending (or, once it lapsed, committed)
-- decremented in each bucket. (Runs after _spend.lua, which describes the fields of the user hash.)
-- Idempotent: a repeated call answers changed=0.
--
-- With a tombstone TTL it is a cancel: the release of a reservation whose reserve call failed on the
-- caller's side (timed out, connection lost), so that caller never learned whether it was made nor
-- handed it out. Its reserve may still arrive later (a delayed copy on another connection): an
-- unknown id leaves a tombstone for that long, and a reserve of it then reserves nothing. A cancel
-- leaves alone a reservation that an idempotency replay has handed out since (answer ok 2): whoever
-- got it settles it, or it lapses as spent.
--
-- KEYS[1]  mg:{<user>}:u
-- ARGV     now, reservation id, tombstone ttl (0: an ordinary release)
-- returns  {status letter, changed 0|1, amount, lapsed ids}: r released, x conflict (committed,
--          refunded, or handed out by a replay), u unknown (never reserved, or past its retention)
local K = KEYS[1]
local now, id, tomb = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local lapsed = sweep(K, now)
local field, a = load_reservation(K, id)
if not a then
  if tomb > 0 and redis.call('HEXISTS', K, field) == 0 then
    redis.call('HSET', K, field, string.format('%d:t:-:0:%d', now + tomb, tomb))
    note(K, now + tomb)
    keep_key(K, now, now + tomb)
  end
  return {'u', 0, 0, lapsed}
end
local amount = tonumber(a[4])
if a[2] == 'r' then return {'r', 0, amount, lapsed} end
if a[2] ~= 'p' and a[2] ~= 'l' then return {'x', 0, amount, lapsed} end
if tomb > 0 then
  local all = redis.call('HGETALL', K)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 1) == 'i' and #all[i] > 1 then
      local answer = split(all[i + 1])
      if answer[2] == '2' and answer[3] == id then return {'x', 0, amount, lapsed} end
    end
  end
end
if a[2] == 'p' then add(K, a, now, -amount, 0, false) else add(K, a, now, 0, -amount, false) end
a[1], a[2] = F:format(now + tonumber(a[5])), 'r'
redis.call('HSET', K, field, table.concat(a, ':'))
note(K, now + tonumber(a[5]))
keep_key(K, now, now + tonumber(a[5]))
return {'r', 1, amount, lapsed}
