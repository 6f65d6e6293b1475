-- add: store a dead letter once (by id), index it and push it on the broker queue, atomically.
-- KEYS[1] raw envelopes (hash id -> envelope)   KEYS[2] index by time (zset)
-- KEYS[3] index of the job (zset)   KEYS[4] counts per job (hash)   KEYS[5] the queue (list)
-- ARGV[1] id   ARGV[2] envelope   ARGV[3] dead-lettered at (s)   ARGV[4] job
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
redis.call('LPUSH', KEYS[5], ARGV[2])
return 1
