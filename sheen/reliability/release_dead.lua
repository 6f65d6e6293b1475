-- release_dead: the worker's main process saw a pool child die with this task: drop the
-- lease that child held, so the task's redelivery runs at once instead of waiting for it.
-- KEYS[1] which lease the task id holds   ARGV[1] task id   ARGV[2] "<host>:<pid>:" of the child
-- Only a lease whose token names that very process is dropped: a live copy keeps its own.
local lease = redis.call('GET', KEYS[1])
if not lease then
    return 0
end
local holder = redis.call('GET', lease)
if holder and string.sub(holder, 1, #ARGV[1] + 1) == ARGV[1] .. ' '
        and string.find(holder, ' ' .. ARGV[2], 1, true) then
    redis.call('DEL', lease, KEYS[1])
    return 1
end
return 0
