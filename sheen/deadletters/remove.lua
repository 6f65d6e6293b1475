-- remove: drop dead letters by id from the queue and every index, atomically.
-- KEYS[1] raw envelopes   KEYS[2] index by time   KEYS[3] counts per job   KEYS[4] the queue
-- ARGV[1] prefix of the per-job index keys   ARGV[2..] pairs: id, job
-- A few ids: LREM each. Many: one pass rewriting the list (LREM each would be O(n*m)).
local removed = {}
local n = 0
for i = 2, #ARGV, 2 do
    local id, job = ARGV[i], ARGV[i + 1]
    local raw = redis.call('HGET', KEYS[1], id)
    if raw then
        redis.call('HDEL', KEYS[1], id)
        redis.call('ZREM', KEYS[2], id)
        redis.call('ZREM', ARGV[1] .. job, id)
        if redis.call('HINCRBY', KEYS[3], job, -1) <= 0 then
            redis.call('HDEL', KEYS[3], job)
        end
        removed[raw] = true
        n = n + 1
    end
end
if n == 0 then
    return 0
end
if n <= 16 then
    for raw, _ in pairs(removed) do
        redis.call('LREM', KEYS[4], 1, raw)
    end
    return n
end
local all = redis.call('LRANGE', KEYS[4], 0, -1)
redis.call('DEL', KEYS[4])
local keep = {}
for _, raw in ipairs(all) do
    if not removed[raw] then
        keep[#keep + 1] = raw
        if #keep == 1000 then
            redis.call('RPUSH', KEYS[4], unpack(keep))
            keep = {}
        end
    end
end
if #keep > 0 then
    redis.call('RPUSH', KEYS[4], unpack(keep))
end
return n
