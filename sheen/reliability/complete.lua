-- complete: record a key as done and drop its lease (only if this delivery holds it).
-- KEYS[1] done keys of the job   KEYS[2] lease of the key   KEYS[3] lease held by the task id
-- ARGV[1] idempotency key   ARGV[2] holder ("<task id> <attempt> <token>")   ARGV[3] now (s)
-- ARGV[4] done keys older than this (s) are dropped: memory is bounded by time, not count
-- ARGV[5] "1" to mark done, "0" to only release the lease (the run failed)
if ARGV[5] == '1' then
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[4])
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
    redis.call('DEL', KEYS[2], KEYS[3])
end
return 1
