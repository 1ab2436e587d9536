-- commit: a paid reservation's amount moves from pending to committed in each of its buckets.
-- (Runs after _spend.lua, which describes the fields of the user hash.) Idempotent: a repeated
-- call answers changed=0.
--
-- KEYS[1]  mg:{<user>}:u
-- ARGV     now, reservation id
-- returns  {status letter, changed 0|1, amount, lapsed ids}: c committed, x conflict (released or
--          refunded), u unknown (never reserved, or past its retention). A reservation that lapsed
--          (counted at its deadline) is committed with changed=1 and no change to the counters:
--          from then on no release can undo it.
local K = KEYS[1]
local now = tonumber(ARGV[1])
local lapsed = sweep(K, now)
local field, a = load_reservation(K, ARGV[2])
if not a then return {'u', 0, 0, lapsed} end
local amount = tonumber(a[4])
if a[2] == 'c' then return {'c', 0, amount, lapsed} end
if a[2] == 'l' then
  a[2] = 'c'  -- keeps the retention its lapse gave
  redis.call('HSET', K, field, table.concat(a, ':'))
  return {'c', 1, amount, lapsed}
end
if a[2] ~= 'p' then return {'x', 0, amount, lapsed} end
add(K, a, now, -amount, amount, true)
a[1], a[2] = F:format(now + tonumber(a[5])), 'c'
redis.call('HSET', K, field, table.concat(a, ':'))
keep_key(K, now, now + tonumber(a[5]))
return {'c', 1, amount, lapsed}
