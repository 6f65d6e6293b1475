-- claim: count this delivery, then decide in one round trip whether it may run.
-- KEYS[1] done keys of the job (sorted set, score = completion time)
-- KEYS[2] in-flight lease of this idempotency key (string = holder task id)
-- KEYS[3] delivery counter of this message (task id + retry number)
-- ARGV[1] idempotency key   ARGV[2] holder (task id)   ARGV[3] lease ttl (ms)
-- ARGV[4] max deliveries    ARGV[5] delivery counter ttl (s)   ARGV[6] "1" to check the key
-- Returns {state, deliveries}: state is run | done | busy | poison.
local deliveries = redis.call('INCR', KEYS[3])
if deliveries == 1 then
    redis.call('EXPIRE', KEYS[3], ARGV[5])
end
if ARGV[6] == '1' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    return {'done', deliveries}
end
if deliveries > tonumber(ARGV[4]) then
    return {'poison', deliveries}
end
if ARGV[6] == '1' then
    local holder = redis.call('GET', KEYS[2])
    if holder and holder ~= ARGV[2] then
        return {'busy', deliveries}
    end
    redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
return {'run', deliveries}
