-- claim: count this delivery, then decide in one round trip whether it may run.
-- KEYS[1] done keys of the job (sorted set, score = completion time)
-- KEYS[2] in-flight lease of this idempotency key (string = "<task id> <attempt> <token>")
-- KEYS[3] delivery counter of this message (task id + retry number)
-- KEYS[4] which lease this task id holds (string = KEYS[2]), for its worker's main process
-- ARGV[1] idempotency key   ARGV[2] task id   ARGV[3] lease ttl (ms)
-- ARGV[4] max deliveries    ARGV[5] delivery counter ttl (s)   ARGV[6] "1" to check the key
-- ARGV[7] the task id this message was requeued from (its dead letter), or ""
-- ARGV[8] this delivery's token   ARGV[9] done keys newer than this (s) still count
-- ARGV[10] this delivery's attempt (retries not counting deferrals)
-- Returns {state, deliveries, lease ms left}: state is run | done | busy | held | poison.
-- held: another delivery of this same task id and attempt holds the lease (a live copy, or
-- one whose worker died): the caller defers until the lease has expired, never runs beside
-- it. A holder of an earlier attempt of the task scheduled this very retry: it is handed over.
local deliveries = redis.call('INCR', KEYS[3])
if deliveries == 1 then
    redis.call('EXPIRE', KEYS[3], ARGV[5])
end
if ARGV[6] == '1' then
    local done_at = redis.call('ZSCORE', KEYS[1], ARGV[1])
    if done_at and tonumber(done_at) >= tonumber(ARGV[9]) then
        return {'done', deliveries, 0}
    end
end
local mine = ARGV[2] .. ' ' .. ARGV[10] .. ' ' .. ARGV[8]
if deliveries > tonumber(ARGV[4]) then
    -- a poison pill is dead-lettered and acknowledged: its task's lease must not outlive it
    if ARGV[6] == '1' then
        local holder = redis.call('GET', KEYS[2])
        if holder and string.sub(holder, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then
            redis.call('DEL', KEYS[2])
        end
    end
    return {'poison', deliveries, 0}
end
if ARGV[6] == '1' then
    local holder = redis.call('GET', KEYS[2])
    if holder then
        local holder_task, holder_attempt = string.match(holder, '^(%S+) (%S+)')
        if holder_task == ARGV[2] and tonumber(holder_attempt) >= tonumber(ARGV[10]) then
            return {'held', deliveries, redis.call('PTTL', KEYS[2])}
        end
        -- a dead-lettered task is finished: a requeue of its letter takes its lease over
        if holder_task ~= ARGV[2] and holder_task ~= ARGV[7] then
            return {'busy', deliveries, 0}
        end
    end
    redis.call('SET', KEYS[2], mine, 'PX', ARGV[3])
    redis.call('SET', KEYS[4], KEYS[2], 'PX', ARGV[3])
end
return {'run', deliveries, 0}
