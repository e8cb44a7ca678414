-- The rule engine's state for one batch, read in one call (``pipeline.rule_batch``: ``Batch.read``).
--
-- KEYS: inside, latch, congestion, incidents, inside of the window before, window, parked, parked
-- since. ARGV[1]: JSON [vehicles, latch fields, congestion fields, incident ids]; ARGV[2]: the
-- batch's window (0: none); ARGV[3]: parked vehicles kept. Returns JSON [states, latch values,
-- congestion values, scores] (false: none).
-- The vehicles' states live in two hashes: the current window's and the one before. A new window
-- (in event time: the newest vehicle event's, never going back) drops the hash before and makes
-- the current one the one before; a vehicle seen has its state moved into the current hash. So a
-- vehicle silent for one to two windows is forgotten, at the cost of one move per vehicle and
-- window; except, for one that was in a zone, its state without the speed rules fired (time,
-- type, zones: ~40 bytes), parked in a third hash (the newest ARGV[3] kept, by window parked):
-- seen again, it takes that state back, so a bus parked overnight in its depot leaves it in the
-- morning without entering it first.
local ask = cjson.decode(ARGV[1])
local window, current = tonumber(ARGV[2]), tonumber(redis.call('GET', KEYS[6]) or '0')
local function park(key)
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local t, vtype, zones = string.match(all[i + 1], '^([^\31]*)\31([^\31]*)\31([^\31]+)\31[^\31]*$')
    if zones then
      redis.call('HSET', KEYS[7], all[i], t .. '\31' .. vtype .. '\31' .. zones .. '\31')
      redis.call('ZADD', KEYS[8], window, all[i])
    end
  end
end
if window > current then
  if current > 0 and window == current + 1 then
    park(KEYS[5])
    redis.call('DEL', KEYS[5])
    if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], KEYS[5]) end
  elseif current > 0 then
    park(KEYS[5]); park(KEYS[1])
    redis.call('DEL', KEYS[1], KEYS[5])
  end
  local extra = redis.call('ZCARD', KEYS[8]) - tonumber(ARGV[3])
  if extra > 0 then
    local old = redis.call('ZRANGE', KEYS[8], 0, extra - 1)
    for i = 1, #old, 1000 do redis.call('HDEL', KEYS[7], unpack(old, i, math.min(i + 999, #old))) end
    redis.call('ZREMRANGEBYRANK', KEYS[8], 0, extra - 1)
  end
  redis.call('SET', KEYS[6], window)
end
local function hmget(key, fields)
  local got = {}
  for i = 1, #fields, 1000 do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + 999, #fields)))
    for j = 1, #part do got[#got + 1] = part[j] end
  end
  return got
end
local states = hmget(KEYS[1], ask[1])
local function take(key, ordered)  -- the states still missing, moved from ``key`` into the current hash
  if redis.call('EXISTS', key) == 0 then return end
  local missing, at = {}, {}
  for i = 1, #ask[1] do
    if not states[i] then missing[#missing + 1] = ask[1][i]; at[#at + 1] = i end
  end
  if #missing == 0 then return end
  local found = hmget(key, missing)
  for j = 1, #missing do
    local state = found[j]
    if state then
      states[at[j]] = state
      redis.call('HSET', KEYS[1], missing[j], state)
      redis.call('HDEL', key, missing[j])
      if ordered then redis.call('ZREM', ordered, missing[j]) end
    end
  end
end
take(KEYS[5])
take(KEYS[7], KEYS[8])
local known = {}
for i, id in ipairs(ask[4]) do known[i] = redis.call('ZSCORE', KEYS[4], id) end
return cjson.encode({states, hmget(KEYS[2], ask[2]), hmget(KEYS[3], ask[3]), known})
