-- Speed-layer update for one micro-batch. The single implementation of "what the
-- current state of the city is", run atomically inside Redis (or the embedded store).
--
-- ARGV[1] key layout (``Keys.lua()``): fixed keys by name, entity key prefixes by kind
-- ARGV[2] batch:  {"v": [[id, ts_ms, lat, lon, {field: value}, type], ...] (lat, lon null: no position),
--                  "t": [...], "w": [...], "i": [...],
--                  "d": [dead letter as a JSON string, ...] (optional, oldest first),
--                  "i" entries carry a sixth element: the device that sent the event (its history's "by"),
--                  "a": [[incident id, {field: value}, history line or null], ...] (optional: what
--                        operators do to an incident: who acknowledged it, who it is assigned to,
--                        a note (a history line alone); they never move its event time),
--                  "m": {"v": ts_ms, "t": ..., "w": ..., "i": ...} (optional: the newest event
--                        time per kind of the whole write, when it is split into shards: each
--                        shard's windows move with it, as if the write were one call)}
-- KEYS[1] any key of the shard written (its summary): it names the cluster slot of the call;
--         every key the script touches carries the same hash tag (ARGV[1]).
-- ARGV[3] config: {"ttl_ms", "active_ms", "sensor_ms", "track_len", "resolved_ms", "incident_log_len",
--                  "changes_maxlen", "dead_letters_kept", and the live read model's part
--                  (``pipeline.live_model.lua_config``): "types": [...], "levels": [...] (least
--                  congested first: a sensor's rank in the congestion index is its level's place)}
-- ARGV[4] (optional) when one write is split into several calls: "<write id>:more" on
--         every call but the last, "<write id>:last" on the last, so that readers of the
--         change stream can wait for the whole write.
--
-- Rules: an entity's state only moves forward in event time (an older event is
-- ignored, an equal one merges its fields), so replays and out-of-order delivery
-- are harmless; the whole batch is applied atomically. A vehicle event without a position
-- merges its fields and keeps the vehicle active, but leaves its position, track and GEO
-- entry as they were (a vehicle that never had one has none). A note ("a") lands only on an
-- incident the speed layer holds. An incident's history (reported, resolved, reopened, and the
-- operators' lines) is a capped list beside its hash, newest first, that lives exactly as long as
-- the hash: this script is its only writer, so a line and the change it records are one step.
-- A replayed event adds no line (only a new incident or a change of status does). Returns the number of entities changed per kind:
-- {v, t, w, i, stale_removed}.

local K = cjson.decode(ARGV[1])
local batch = cjson.decode(ARGV[2])
local cfg = cjson.decode(ARGV[3])
local CHUNK = 200
local M = batch.m or {}

local function chunked(cmd, key, items, width)
  -- items is a flat list; send at most CHUNK members per call (Lua's unpack limit)
  local n = #items
  local step = CHUNK * width
  for i = 1, n, step do
    local args = {cmd, key}
    for j = i, math.min(i + step - 1, n) do args[#args + 1] = items[j] end
    redis.call(unpack(args))
  end
end

local function hset_args(key, id, ts, lat, lon, fields)
  local args = {'HSET', key, 'id', id, 'ts', ts}
  if lat ~= cjson.null then
    args[#args + 1] = 'lat'; args[#args + 1] = lat
    args[#args + 1] = 'lon'; args[#args + 1] = lon
  end
  for k, v in pairs(fields) do
    if type(v) == 'boolean' then v = v and '1' or '0' end
    args[#args + 1] = k
    args[#args + 1] = v
  end
  return args
end

local function bump(field, ts)
  local cur = tonumber(redis.call('HGET', K.summary, field))
  if not cur or ts > cur then
    redis.call('HSET', K.summary, field, ts)
    return ts
  end
  return cur
end

local changed = {v = {}, t = {}, w = {}, i = {}}
local seen = {v = {}, t = {}, w = {}, i = {}}
local counts = {0, 0, 0, 0, 0}

local function mark(kind, id)
  if not seen[kind][id] then
    seen[kind][id] = true
    changed[kind][#changed[kind] + 1] = id
  end
end

-- Vehicles (vehicle_data and gps_data merge into one state per device).
local geo, active, by_type = {}, {}, {}
local vmax = tonumber(M.v) or 0
for _, e in ipairs(batch.v or {}) do
  local id, ts, lat, lon, fields, vtype = e[1], tonumber(e[2]), e[3], e[4], e[5], e[6]
  local key = K.entity.v .. id
  local cts = tonumber(redis.call('HGET', key, 'ts'))
  if not cts or ts >= cts then
    redis.call(unpack(hset_args(key, id, e[2], lat, lon, fields)))
    redis.call('PEXPIRE', key, cfg.ttl_ms)
    local newer = not cts or ts > cts
    if lat ~= cjson.null then
      if newer and cfg.track_len > 0 then  -- recent positions, newest first, as "lat,lon,ts_ms"
        local tkey = K.track .. id
        redis.call('LPUSH', tkey, lat .. ',' .. lon .. ',' .. e[2])
        redis.call('LTRIM', tkey, 0, cfg.track_len - 1)
        redis.call('PEXPIRE', tkey, cfg.ttl_ms)
      end
      -- an equal time merged its position into the hash too: the map must show the same place
      geo[#geo + 1] = lon; geo[#geo + 1] = lat; geo[#geo + 1] = id
    elseif newer then  -- active again at its last known position, if it ever had one (it may have gone stale)
      local pos = redis.call('HMGET', key, 'lat', 'lon')
      if pos[1] then geo[#geo + 1] = pos[2]; geo[#geo + 1] = pos[1]; geo[#geo + 1] = id end
    end
    active[#active + 1] = ts; active[#active + 1] = id
    if vtype ~= '' then
      by_type[vtype] = by_type[vtype] or {}
      local t = by_type[vtype]
      t[#t + 1] = ts; t[#t + 1] = id
    end
    mark('v', id)
    counts[1] = counts[1] + 1
  end
  if ts > vmax then vmax = ts end
end
chunked('GEOADD', K.v_geo, geo, 3)
chunked('ZADD', K.v_active, active, 2)
for vtype, items in pairs(by_type) do chunked('ZADD', K.v_active_type .. vtype, items, 2) end

-- Vehicles not seen for active_ms (in event time) leave the active set and the map.
if vmax > 0 then
  local wm = bump('last_v', vmax)
  local cutoff = '(' .. string.format('%.0f', wm - cfg.active_ms)
  local stale = redis.call('ZRANGEBYSCORE', K.v_active, '-inf', cutoff, 'LIMIT', 0, 1000)
  if #stale > 0 then
    chunked('ZREM', K.v_active, stale, 1)
    chunked('ZREM', K.v_geo, stale, 1)
    counts[5] = #stale
  end
  for _, vtype in ipairs(cfg.types) do
    redis.call('ZREMRANGEBYSCORE', K.v_active_type .. vtype, '-inf', cutoff)
  end
end

-- Fixed sensors: traffic cameras and weather stations, latest reading each.
local function sensors(kind, items, extra)
  local sgeo, sidx, smax = {}, {}, tonumber(M[kind]) or 0
  for _, e in ipairs(items or {}) do
    local id, ts, lat, lon, fields = e[1], tonumber(e[2]), e[3], e[4], e[5]
    local key = K.entity[kind] .. id
    local cts = tonumber(redis.call('HGET', key, 'ts'))
    if not cts or ts >= cts then
      redis.call(unpack(hset_args(key, id, e[2], lat, lon, fields)))
      redis.call('PEXPIRE', key, cfg.ttl_ms)
      if not cts or ts > cts then
        sgeo[#sgeo + 1] = lon; sgeo[#sgeo + 1] = lat; sgeo[#sgeo + 1] = id
        sidx[#sidx + 1] = ts; sidx[#sidx + 1] = id
        if extra then extra(id, fields) end
      end
      mark(kind, id)
    end
    if ts > smax then smax = ts end
  end
  chunked('GEOADD', K[kind .. '_geo'], sgeo, 3)
  chunked('ZADD', K[kind .. '_index'], sidx, 2)
  if smax > 0 then
    local wm = bump('last_' .. kind, smax)
    local cutoff = '(' .. string.format('%.0f', wm - cfg.sensor_ms)
    local stale = redis.call('ZRANGEBYSCORE', K[kind .. '_index'], '-inf', cutoff, 'LIMIT', 0, 1000)
    if #stale > 0 then
      chunked('ZREM', K[kind .. '_index'], stale, 1)
      chunked('ZREM', K[kind .. '_geo'], stale, 1)
      if kind == 't' then chunked('ZREM', K.t_congestion, stale, 1) end
    end
  end
  return #changed[kind]
end

local rank = {}
for i, level in ipairs(cfg.levels) do rank[level] = i - 1 end
counts[2] = sensors('t', batch.t, function(id, fields)
  local level = rank[fields.congestion_level or '']
  if level then redis.call('ZADD', K.t_congestion, level, id) end
end)
counts[3] = sensors('w', batch.w, nil)

-- An incident's history: one JSON line more, the list capped, living as long as the hash.
local function log_incident(id, line)
  if (cfg.incident_log_len or 0) <= 0 then return end
  local lkey = K.log .. id
  redis.call('LPUSH', lkey, line)
  redis.call('LTRIM', lkey, 0, cfg.incident_log_len - 1)
  local ttl = redis.call('PTTL', K.entity.i .. id)
  if ttl > 0 then redis.call('PEXPIRE', lkey, ttl) else redis.call('PERSIST', lkey) end
end

-- Incidents: Active -> Resolved lifecycle, ordered by event time.
local imax = tonumber(M.i) or 0
for _, e in ipairs(batch.i or {}) do
  local id, ts, lat, lon, fields = e[1], tonumber(e[2]), e[3], e[4], e[5]
  local key = K.entity.i .. id
  local cur = redis.call('HMGET', key, 'ts', 'first_seen', 'status')
  local cts = tonumber(cur[1])
  if not cts or ts >= cts then
    local args = hset_args(key, id, e[2], lat, lon, fields)
    local first = cur[2] or e[2]
    args[#args + 1] = 'first_seen'
    args[#args + 1] = first
    if fields.status == 'Resolved' then
      args[#args + 1] = 'resolved_at'
      args[#args + 1] = e[2]
    end
    redis.call(unpack(args))
    if fields.status == 'Resolved' then
      redis.call('ZREM', K.i_active, id)
      redis.call('ZREM', K.i_geo, id)
      redis.call('ZADD', K.i_resolved, ts, id)
      redis.call('PEXPIRE', key, cfg.resolved_ms)
    else
      redis.call('HDEL', key, 'resolved_at')
      redis.call('ZADD', K.i_active, tonumber(first), id)
      redis.call('GEOADD', K.i_geo, lon, lat, id)
      redis.call('ZREM', K.i_resolved, id)
      redis.call('PERSIST', key)
    end
    local by = type(e[6]) == 'string' and e[6] or ''
    if not cts then
      log_incident(id, cjson.encode({event = 'reported', by = by, at = ts}))
    end
    local before = cur[3] or 'Active'
    if fields.status and fields.status ~= before then
      log_incident(id, cjson.encode({event = fields.status == 'Resolved' and 'resolved' or 'reopened', by = by, at = ts}))
    end
    mark('i', id)
    counts[4] = counts[4] + 1
  end
  if ts > imax then imax = ts end
end
if imax > 0 then
  local wm = bump('last_i', imax)
  redis.call('ZREMRANGEBYSCORE', K.i_resolved, '-inf', '(' .. string.format('%.0f', wm - cfg.resolved_ms))
end

-- Operators' actions on incidents (acknowledge, assign, note): fields merged into the incident
-- as it is, and a line of its history.
for _, e in ipairs(batch.a or {}) do
  local id, fields, line = e[1], e[2], e[3]
  local key = K.entity.i .. id
  if redis.call('EXISTS', key) == 1 then
    local args = {'HSET', key}
    for k, v in pairs(fields) do args[#args + 1] = k; args[#args + 1] = v end
    if #args > 2 then redis.call(unpack(args)) end
    if type(line) == 'string' then log_incident(id, line) end
    if #args > 2 or type(line) == 'string' then
      if not seen.i[id] then counts[4] = counts[4] + 1 end
      mark('i', id)
    end
  end
end

-- The newest dead letters, newest first, for the console (the lake keeps every one).
if batch.d and #batch.d > 0 then
  chunked('LPUSH', K.deadletters, batch.d, 1)
  redis.call('LTRIM', K.deadletters, 0, cfg.dead_letters_kept - 1)
end

-- One change notification per call, for push to consoles in any process; the last call
-- of a split write always notifies, so that a reader waiting for the write sees it end.
local part = ARGV[4] or ''
if counts[1] + counts[2] + counts[3] + counts[4] > 0 or string.sub(part, -5) == ':last' then
  redis.call('XADD', K.changes, 'MAXLEN', '~', cfg.changes_maxlen, '*',
    'v', cjson.encode(changed.v), 't', cjson.encode(changed.t),
    'w', cjson.encode(changed.w), 'i', cjson.encode(changed.i), 'part', part)
end
return counts
