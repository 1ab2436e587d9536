-- release: an unpaid reservation gives its amount back (pending decremented in each bucket).
-- (Runs after _spend.lua, which describes the fields of the user hash.) Idempotent: a repeated
-- call answers changed=0.
--
-- KEYS[1]  mg:{<user>}:u
-- ARGV     now, reservation id
-- returns  {status letter, changed 0|1, amount}: r released, x conflict (committed or refunded),
--          u unknown (never reserved, or expired)
local K = KEYS[1]
local now = tonumber(ARGV[1])
sweep(K, now)
local field, a = load_reservation(K, ARGV[2])
if not a then return {'u', 0, 0} end
local amount = tonumber(a[4])
if a[2] == 'r' then return {'r', 0, amount} end
if a[2] ~= 'p' then return {'x', 0, amount} end
add(K, a, now, -amount, 0, false)
a[1], a[2] = F:format(now + tonumber(a[5])), 'r'
redis.call('HSET', K, field, table.concat(a, ':'))
note(K, now + tonumber(a[5]))
keep_key(K, now, now + tonumber(a[5]))
return {'r', 1, amount}
