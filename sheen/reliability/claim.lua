-- claim: count this delivery, then decide in one round trip whether it may run.
-- KEYS[1] done keys of the job (sorted set, score = completion time)
-- KEYS[2] in-flight lease of this idempotency key (string = holder task id)
-- KEYS[3] delivery counter of this message (task id + retry number)
-- ARGV[1] idempotency key   ARGV[2] holder (task id)   ARGV[3] lease ttl (ms)
-- ARGV[4] max deliveries    ARGV[5] delivery counter ttl (s)   ARGV[6] "1" to check the key
-- ARGV[7] the task id this message was requeued from (its dead letter), or ""
-- Returns {state, deliveries}: state is run | done | busy | poison.
local deliveries = redis.call('INCR', KEYS[3])
if deliveries == 1 then
    redis.call('EXPIRE', KEYS[3], ARGV[5])
end
if ARGV[6] == '1' and redis.call('ZSCORE', KEYS[1], ARGV[1]) then
    return {'done', deliveries}
end
if deliveries > tonumber(ARGV[4]) then
    -- a poison pill is dead-lettered and acknowledged: its own lease must not outlive it
    if ARGV[6] == '1' and redis.call('GET', KEYS[2]) == ARGV[2] then
        redis.call('DEL', KEYS[2])
    end
    return {'poison', deliveries}
end
if ARGV[6] == '1' then
    local holder = redis.call('GET', KEYS[2])
    -- a dead-lettered task is finished: a requeue of its letter takes its lease over
    if holder and holder ~= ARGV[2] and holder ~= ARGV[7] then
        return {'busy', deliveries}
    end
    redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
return {'run', deliveries}
