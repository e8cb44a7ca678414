-- Map rows of vehicles in one call: what the console's map and the push hub send.
--
-- ARGV[1] config (JSON): {"entity": the vehicles' hash key prefix (``Keys.entity('v', '')``),
--         "active": the active set's key, and the row shape of the live read model
--         (``pipeline.live_model.rows_config``): "columns" (the first is the id),
--         "numeric": {column: scale} (a number, rounded to 1/scale when scale > 0),
--         "required": columns a row cannot go without}
-- KEYS[1] the shard's active set (the cluster slot of the call; ARGV[1] names the keys read).
-- ARGV[2] limit (used when no ids follow), ARGV[3..] vehicle ids.
-- Without ids: the active vehicles, most recently seen first.
-- Returns a JSON array of rows with the configured columns (missing fields are null; expired
-- vehicles and vehicles without a required field, e.g. never a position, are skipped).

local cfg = cjson.decode(ARGV[1])
local V = cfg.entity
local ids
if #ARGV > 2 then
  ids = {}
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZREVRANGE', cfg.active, 0, tonumber(ARGV[2]) - 1)
end

-- the hash fields read (every column but the id) and, per column, how to convert it
local fields, scale, need = {}, {}, {}
for i = 2, #cfg.columns do
  local col = cfg.columns[i]
  fields[#fields + 1] = col
  scale[i - 1] = cfg.numeric[col]  -- nil: text
end
for _, col in ipairs(cfg.required) do
  for i = 2, #cfg.columns do
    if cfg.columns[i] == col then need[#need + 1] = i - 1 end
  end
end
local width = #fields

local function number(x, s)
  local n = tonumber(x)
  if not n then return cjson.null end
  if s > 0 then return math.floor(n * s + 0.5) / s end
  return n
end

local rows = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', V .. id, unpack(fields))
  local whole = true
  for _, i in ipairs(need) do
    if not v[i] then whole = false end
  end
  if whole then
    local row = {id}
    for i = 1, width do
      local s = scale[i]
      if s then
        row[i + 1] = number(v[i], s)
      elseif v[i] then
        row[i + 1] = v[i]
      else
        row[i + 1] = cjson.null
      end
    end
    rows[#rows + 1] = row
  end
end
if #rows == 0 then return '[]' end  -- cjson encodes an empty table as {}
return cjson.encode(rows)
