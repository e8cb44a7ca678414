-- Map rows of vehicles in one call: what the console's map and the push hub send.
--
-- ARGV[1] the vehicles' hash key prefix (``Keys.entity('v', '')``), ARGV[2] the active set's key,
-- ARGV[3] limit (used when no ids follow), ARGV[4..] vehicle ids.
-- Without ids: the active vehicles, most recently seen first.
-- Returns a JSON array of [id, ts_ms, lat, lon, speed, heading, vehicle_type, status, road_name]
-- (missing fields are null; expired vehicles and vehicles that never reported a position are
-- skipped: a map row has a place). Coordinates are rounded to
-- 1e-6 degrees (~0.1 m) and speeds to 0.1 km/h: the map needs no more, and it halves the bytes.

local V = ARGV[1]
local ids
if #ARGV > 3 then
  ids = {}
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZREVRANGE', ARGV[2], 0, tonumber(ARGV[3]) - 1)
end

local function round(x, scale)
  local n = tonumber(x)
  if not n then return cjson.null end
  return math.floor(n * scale + 0.5) / scale
end

local function str(x)
  if not x then return cjson.null end
  return x
end

local rows = {}
for _, id in ipairs(ids) do
  local v = redis.call('HMGET', V .. id,
    'ts', 'lat', 'lon', 'speed', 'heading', 'vehicle_type', 'status', 'road_name')
  if v[1] and v[2] then
    rows[#rows + 1] = {id, tonumber(v[1]), round(v[2], 1e6), round(v[3], 1e6), round(v[4], 10),
      round(v[5], 1), str(v[6]), str(v[7]), str(v[8])}
  end
end
if #rows == 0 then return '[]' end  -- cjson encodes an empty table as {}
return cjson.encode(rows)
