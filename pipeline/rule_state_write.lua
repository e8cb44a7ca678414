-- What one batch changed in the rule engine's state, written in one call (``Batch.write``).
--
-- ARGV[1]: JSON [vehicle changes [[vehicle, state as read or null, new state or null]], (unused),
-- latch set, latch del, congestion set, congestion del, incidents [[id, ms]], incidents kept]
local w = cjson.decode(ARGV[1])
local function hset(key, items) for _, kv in ipairs(items) do redis.call('HSET', key, kv[1], kv[2]) end end
local function hdel(key, fields)
  for i = 1, #fields, 1000 do redis.call('HDEL', key, unpack(fields, i, math.min(i + 999, #fields))) end
end
for _, c in ipairs(w[1]) do  -- a vehicle's state changes only if no other processor changed it meanwhile
  local state = redis.call('HGET', KEYS[1], c[1])
  local before = not state and redis.call('HGET', KEYS[5], c[1])  -- a new window began since the read
  if (state or before or cjson.null) == c[2] then
    if before then redis.call('HDEL', KEYS[5], c[1]) end
    if c[3] == cjson.null then redis.call('HDEL', KEYS[1], c[1]) else redis.call('HSET', KEYS[1], c[1], c[3]) end
  end
end
hset(KEYS[2], w[3]); hdel(KEYS[2], w[4])
hset(KEYS[3], w[5]); hdel(KEYS[3], w[6])
if #w[7] > 0 then
  for _, item in ipairs(w[7]) do redis.call('ZADD', KEYS[4], item[2], item[1]) end
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -tonumber(w[8]) - 1)
end
return 1
