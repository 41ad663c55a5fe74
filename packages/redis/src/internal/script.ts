/**
 * The Lua script that applies `CircuitBreakerStore.decide` atomically in Redis, for a batch of reports (one
 * EVALSHA per flush), plus the fleet-wide half-open probe leases.
 *
 * KEYS: one hash per shared record. ARGV[1]: JSON `{ ttl, leaseTtl, channel, configs, entries }`; each entry
 * `{ k, id, c, hint, r?, probe?, tok?, want?, od? }`: `k` its key's index in KEYS, `id` the record id for the
 * published message, `c` its config's index, `hint` the version the replica has (a record that expired starts
 * from it), `r` the report (`at`, `s`, `f`, `w` slow calls, `p` proposal `{ b, st, at, o }`), `probe` whether
 * the proposal settles a half-open probe (accepted only under the live lease `tok`), `want` probes wanted under
 * lease `tok` once `od` millis have passed since the opening (judged with Redis TIME, so no replica's clock).
 *
 * The hash: `v`, `s` (0 closed, 1 open, 2 half-open, 3 isolated), `at`, `o`; the window (`wc` consecutive; `wr`
 * ring, `wp`, `wn`, `wf`, `wl` for a count window; `wb`, `wi`, `wn`, `wf`, `wl` for a time window); `L` leases
 * (JSON `{ token: [count, until] }`).
 *
 * Returns `{ redisNowMillis, then per entry: version, state, at, openings, dropped, granted, leaseUntil }`.
 * Every changed record is published once on `channel` as JSON `[id, version, state, at, openings]`.
 *
 * Numbers: reports' times are integers (millis on Redis's timeline), rates travel as JSON (exact doubles), and the
 * window arithmetic is the same IEEE double arithmetic as the TypeScript windows.
 *
 * @internal
 */
export const decideScript = `
-- Redis < 5 replicates scripts verbatim, which forbids TIME before a write: replicate the effects instead.
if redis.replicate_commands then redis.replicate_commands() end
local args = cjson.decode(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local configs = args.configs
local out = { now }
local changed = {}
local changedOrder = {}

local function clearWindow(key)
  redis.call('HDEL', key, 'wc', 'wr', 'wp', 'wn', 'wf', 'wl', 'wb', 'wi')
end

-- Each window mirrors circuitBreakerWindow.ts: record(failures, slowCalls, calls, now) says whether to open.
local function recordConsecutive(key, cfg, failures, slow, calls)
  local consecutive = tonumber(redis.call('HGET', key, 'wc') or '0')
  local bad = math.min(calls, math.max(failures, slow))
  if bad == calls then consecutive = consecutive + bad else consecutive = 0 end
  redis.call('HSET', key, 'wc', consecutive)
  return consecutive >= cfg.threshold
end

local function opens(cfg, n, f, l)
  if n < cfg.min then return false end
  if f / n >= cfg.rate then return true end
  if cfg.slow >= 0 and l / n >= cfg.slow then return true end
  return false
end

local function recordCount(key, cfg, failures, slow, calls)
  local size = cfg.size
  local h = redis.call('HMGET', key, 'wr', 'wp', 'wn', 'wf', 'wl')
  local ring = {}
  local stored = h[1]
  for i = 1, size do
    if stored then ring[i] = string.byte(stored, i) - 48 else ring[i] = 0 end
  end
  local pos = tonumber(h[2] or '0')
  local n = tonumber(h[3] or '0')
  local f = tonumber(h[4] or '0')
  local l = tonumber(h[5] or '0')
  if calls > size then
    -- Only the last size outcomes stay: write those, then count the ring again.
    local first = calls - size
    for j = 0, size - 1 do
      local i = first + j
      local bits = 0
      if i < failures then bits = bits + 1 end
      if i < slow then bits = bits + 2 end
      ring[((pos + i) % size) + 1] = bits
    end
    pos = (pos + calls) % size
    n = size
    f = 0
    l = 0
    for i = 1, size do
      if ring[i] % 2 == 1 then f = f + 1 end
      if ring[i] >= 2 then l = l + 1 end
    end
  else
    for i = 0, calls - 1 do
      local bits = 0
      if i < failures then bits = bits + 1 end
      if i < slow then bits = bits + 2 end
      if n == size then
        local old = ring[pos + 1]
        if old % 2 == 1 then f = f - 1 end
        if old >= 2 then l = l - 1 end
      else
        n = n + 1
      end
      ring[pos + 1] = bits
      if bits % 2 == 1 then f = f + 1 end
      if bits >= 2 then l = l + 1 end
      pos = pos + 1
      if pos == size then pos = 0 end
    end
  end
  local chars = {}
  for i = 1, size do chars[i] = string.char(ring[i] + 48) end
  redis.call('HSET', key, 'wr', table.concat(chars), 'wp', pos, 'wn', n, 'wf', f, 'wl', l)
  return opens(cfg, n, f, l)
end

local function recordTime(key, cfg, failures, slow, calls, at)
  local buckets = cfg.buckets
  local width = cfg.duration / buckets
  local h = redis.call('HMGET', key, 'wb', 'wi', 'wn', 'wf', 'wl')
  local data
  local fresh = false
  if h[1] then
    data = cjson.decode(h[1])
  else
    data = {}
    for slot = 0, buckets - 1 do
      data[4 * slot + 1] = -1
      data[4 * slot + 2] = 0
      data[4 * slot + 3] = 0
      data[4 * slot + 4] = 0
    end
    fresh = true
  end
  local lastIndex = tonumber(h[2] or '-1')
  local n = tonumber(h[3] or '0')
  local f = tonumber(h[4] or '0')
  local l = tonumber(h[5] or '0')
  local function clearSlot(slot)
    local base = 4 * slot
    n = n - data[base + 2]
    f = f - data[base + 3]
    l = l - data[base + 4]
    data[base + 1] = -1
    data[base + 2] = 0
    data[base + 3] = 0
    data[base + 4] = 0
  end
  local current = math.floor(at / width)
  if current > lastIndex then
    lastIndex = current
    if not fresh then
      local oldest = current - buckets
      for slot = 0, buckets - 1 do
        local begun = data[4 * slot + 1]
        if begun >= 0 and begun <= oldest then clearSlot(slot) end
      end
    end
  end
  local slot = current % buckets
  local base = 4 * slot
  if data[base + 1] ~= current then
    if data[base + 1] >= 0 then clearSlot(slot) end
    data[base + 1] = current
  end
  data[base + 2] = data[base + 2] + calls
  data[base + 3] = data[base + 3] + failures
  data[base + 4] = data[base + 4] + slow
  n = n + calls
  f = f + failures
  l = l + slow
  redis.call('HSET', key, 'wb', cjson.encode(data), 'wi', lastIndex, 'wn', n, 'wf', f, 'wl', l)
  return opens(cfg, n, f, l)
end

local function record(key, cfg, failures, slow, calls, at)
  if cfg.t == 'C' then return recordConsecutive(key, cfg, failures, slow, calls) end
  if cfg.t == 'N' then return recordCount(key, cfg, failures, slow, calls) end
  return recordTime(key, cfg, failures, slow, calls, at)
end

local function leasesOf(key)
  local raw = redis.call('HGET', key, 'L')
  if raw then return cjson.decode(raw) end
  return {}
end

for _, e in ipairs(args.entries) do
  local key = KEYS[e.k]
  local cfg = configs[e.c]
  local h = redis.call('HMGET', key, 'v', 's', 'at', 'o')
  local v, s, at, o
  if h[1] then
    v = tonumber(h[1]); s = tonumber(h[2]); at = tonumber(h[3]); o = tonumber(h[4])
  else
    -- A new record, or one that expired: it starts closed at the version the replica has.
    v = e.hint; s = 0; at = 0; o = 0
    redis.call('HSET', key, 'v', v, 's', s, 'at', at, 'o', o)
  end
  local v0 = v
  local dropped = 0
  local r = e.r
  if r then
    local p = r.p
    if p then
      local valid = true
      if e.probe == 1 then
        -- A probe's verdict counts only under a live lease.
        local lease = leasesOf(key)[e.tok or '']
        valid = s == 1 and lease ~= nil and lease[2] > now
      end
      if valid and p.b == v and (p.st ~= s or p.at ~= at or p.o ~= o) then
        v = v + 1; s = p.st; at = p.at; o = p.o
        if s == 0 then clearWindow(key) end
      else
        dropped = 1
      end
    end
    local calls = r.s + r.f
    if s == 0 and calls > 0 then
      if record(key, cfg, r.f, r.w, calls, r.at) then
        clearWindow(key)
        v = v + 1; s = 1; at = r.at; o = 1
      end
    end
  end
  if v ~= v0 then
    redis.call('HSET', key, 'v', v, 's', s, 'at', at, 'o', o)
    redis.call('HDEL', key, 'L')
    if not changed[key] then table.insert(changedOrder, { key, e.id }) end
    changed[key] = { v, s, at, o }
  end
  local granted = 0
  local leaseUntil = 0
  if e.want and e.want > 0 and s == 1 and now >= at + (e.od or 0) then
    local leases = leasesOf(key)
    local held = 0
    local live = {}
    for tok, lease in pairs(leases) do
      if lease[2] > now and tok ~= e.tok then
        held = held + lease[1]
        live[tok] = lease
      end
    end
    granted = math.min(e.want, cfg.probes - held)
    if granted > 0 then
      leaseUntil = now + args.leaseTtl
      live[e.tok] = { granted, leaseUntil }
    else
      granted = 0
    end
    if next(live) == nil then redis.call('HDEL', key, 'L') else redis.call('HSET', key, 'L', cjson.encode(live)) end
  end
  redis.call('PEXPIRE', key, args.ttl)
  table.insert(out, v); table.insert(out, s); table.insert(out, at); table.insert(out, o)
  table.insert(out, dropped); table.insert(out, granted); table.insert(out, leaseUntil)
end

for _, kv in ipairs(changedOrder) do
  local snap = changed[kv[1]]
  redis.call('PUBLISH', args.channel, cjson.encode({ kv[2], snap[1], snap[2], snap[3], snap[4] }))
end

return out
`
