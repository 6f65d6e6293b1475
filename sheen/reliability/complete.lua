-- complete: record a key as done (keeping only the newest N per job) and drop its lease.
-- KEYS[1] done keys of the job   KEYS[2] lease of the key
-- ARGV[1] idempotency key   ARGV[2] holder (task id)   ARGV[3] now (s)   ARGV[4] keys kept
-- ARGV[5] "1" to mark done, "0" to only release the lease (the run failed)
if ARGV[5] == '1' then
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
    redis.call('DEL', KEYS[2])
end
return 1
