-- refund: a committed (or lapsed) reservation was paid back; with restore_quota its amount counts
-- no more. (Runs after _spend.lua, which describes the fields of the user hash.) Idempotent: a
-- repeated call answers changed=0.
--
-- KEYS[1]  mg:{<user>}:u
-- ARGV     now, reservation id, restore_quota 1|0
-- returns  {status letter, changed 0|1, amount, lapsed ids}: f refunded, x conflict (pending or
--          released), u unknown (never reserved, or past its retention)
local K = KEYS[1]
local now = tonumber(ARGV[1])
local lapsed = sweep(K, now)
local field, a = load_reservation(K, ARGV[2])
if not a then return {'u', 0, 0, lapsed} end
local amount = tonumber(a[4])
if a[2] == 'f' then return {'f', 0, amount, lapsed} end
if a[2] ~= 'c' and a[2] ~= 'l' then return {'x', 0, amount, lapsed} end
if ARGV[3] == '1' then add(K, a, now, 0, -amount, false) end
a[2] = 'f'  -- keeps the retention its commit or lapse gave
redis.call('HSET', K, field, table.concat(a, ':'))
return {'f', 1, amount, lapsed}
