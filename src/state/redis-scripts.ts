// The Redis side of the shared state: each operation is one Lua script, so it is atomic across
// replicas and costs one round trip. Times come from the server's clock (TIME), never a
// replica's, and travel back relative ("open for 3 s more"). The bucket and breaker arithmetic is
// the same as rate-bucket.ts and circuit-breaker.ts (the fault tests hold both to it).
//
// Keys under one prefix `llm-fleet:{fleet}:` (one hash slot): b:<endpoint> breaker hash,
// s:<endpoint> / q:<endpoint> slots and queue places per replica, alive replica → expiry,
// r:<bucket> a key's buckets, leases endpoint → "replica|expiry".

const COMMON = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function refill(level, per, elapsed)
  if elapsed < 0 then elapsed = 0 end
  local v = level + elapsed * per / 60000
  if v > per then v = per end
  return v
end
local function store_bucket(key, r, k, rpm, tpm)
  redis.call('HSET', key, 'r', tostring(r), 'k', tostring(k), 't', tostring(now))
  local full = 0
  if rpm > 0 then full = math.max(full, (rpm - r) * 60000 / rpm) end
  if tpm > 0 then full = math.max(full, (tpm - k) * 60000 / tpm) end
  redis.call('PEXPIRE', key, math.ceil(full) + 1000)
end
local function read_bucket(key, rpm, tpm)
  local b = redis.call('HMGET', key, 'r', 'k', 't')
  local at = tonumber(b[3]) or now
  local r = tonumber(b[1]) or rpm
  local k = tonumber(b[2]) or tpm
  if rpm > 0 then r = refill(r, rpm, now - at) end
  if tpm > 0 then k = refill(k, tpm, now - at) end
  return r, k
end
local function settle(key, rpm, tpm, delta)
  if tpm <= 0 then return end
  local r, k = read_bucket(key, rpm, tpm)
  k = k - delta
  if k > tpm then k = tpm end
  store_bucket(key, r, k, rpm, tpm)
end
local function live_sum(hash, alive)
  local total = 0
  local all = redis.call('HGETALL', hash)
  for i = 1, #all, 2 do
    local untilMs = tonumber(redis.call('HGET', alive, all[i]) or '0')
    if untilMs < now then redis.call('HDEL', hash, all[i]) else total = total + tonumber(all[i + 1]) end
  end
  return total
end
local function dec(hash, field)
  local v = redis.call('HINCRBY', hash, field, -1)
  if v <= 0 then redis.call('HDEL', hash, field) end
end
local function load_breaker(key, openMs)
  local br = redis.call('HMGET', key, 'state', 'openedAt', 'consec', 'probeUntil', 'pausedUntil', 'win')
  local b = { state = br[1] or 'closed', openedAt = tonumber(br[2]) or 0, consec = tonumber(br[3]) or 0,
    probeUntil = tonumber(br[4]) or 0, pausedUntil = tonumber(br[5]) or 0, win = br[6] or '' }
  if b.state == 'open' and now - b.openedAt >= openMs then
    b.state = 'half-open'
    b.probeUntil = 0
  end
  return b
end
local function save_breaker(key, b)
  redis.call('HSET', key, 'state', b.state, 'openedAt', tostring(b.openedAt), 'consec', tostring(b.consec),
    'probeUntil', tostring(b.probeUntil), 'pausedUntil', tostring(b.pausedUntil), 'win', b.win)
end
local function snap(b, openMs)
  local s = { state = b.state, consecutiveFailures = b.consec }
  if b.state == 'open' then s.openRemainingMs = math.max(0, b.openedAt + openMs - now) end
  if b.pausedUntil > now then s.pauseRemainingMs = b.pausedUntil - now end
  return s
end
`;

/**
 * KEYS: breaker, slots, queue, alive, rate bucket, then one bucket per settlement.
 * ARGV: replica, maxConcurrency, maxQueue, fromQueue, openMs, probeLeaseMs, hasRate, rpm, tpm,
 * tokens, slots to reserve, requests to reserve, then rpm, tpm, delta per settlement. Returns the
 * AdmitReply as JSON (rate as levels). A reservation is granted only with a slot, on a closed
 * breaker with nobody queued, and only as far as it leaves half of each limit spare.
 */
export const ADMIT = `${COMMON}
local replica = ARGV[1]
local fromQueue = ARGV[4] == '1'
local openMs = tonumber(ARGV[5])
for i = 1, #KEYS - 5 do
  settle(KEYS[5 + i], tonumber(ARGV[10 + 3 * i]), tonumber(ARGV[11 + 3 * i]), tonumber(ARGV[12 + 3 * i]))
end
local function leave() if fromQueue then dec(KEYS[3], replica) end end
local rate = nil
local rpm, tpm, cost, r, k = 0, 0, 0, 0, 0
if ARGV[7] == '1' then
  rpm = tonumber(ARGV[8])
  tpm = tonumber(ARGV[9])
  cost = tonumber(ARGV[10])
  r, k = read_bucket(KEYS[5], rpm, tpm)
  local wait = 0
  if rpm > 0 and r < 1 then wait = math.max(wait, math.ceil((1 - r) * 60000 / rpm)) end
  if tpm > 0 then
    if cost > tpm then cost = tpm end
    if cost < 0 then cost = 0 end
    if k < cost then wait = math.max(wait, math.ceil((cost - k) * 60000 / tpm)) end
  end
  local allowed = wait == 0
  if allowed then
    if rpm > 0 then r = r - 1 end
    if tpm > 0 then k = k - cost end
  end
  store_bucket(KEYS[5], r, k, rpm, tpm)
  rate = { allowed = allowed, retryAfterMs = wait, rpm = rpm, tpm = tpm, requests = tostring(r), tokens = tostring(k) }
  if not allowed then
    leave()
    return cjson.encode({ kind = 'rate_limited', rate = rate })
  end
end
local b = load_breaker(KEYS[1], openMs)
if b.pausedUntil > now then
  leave()
  return cjson.encode({ kind = 'refused', why = 'server asked to wait (Retry-After) for ' .. (b.pausedUntil - now) .. ' ms more', breaker = snap(b, openMs), rate = rate })
end
if b.state == 'open' then
  leave()
  return cjson.encode({ kind = 'refused', why = 'circuit open', breaker = snap(b, openMs), rate = rate })
end
local probe = false
if b.state == 'half-open' then
  if b.probeUntil > now then
    leave()
    return cjson.encode({ kind = 'refused', why = 'circuit half-open, probe in flight', breaker = snap(b, openMs), rate = rate })
  end
  probe = true
end
local inFlight = live_sum(KEYS[2], KEYS[4])
local queued = live_sum(KEYS[3], KEYS[4])
if inFlight < tonumber(ARGV[2]) and (fromQueue or queued == 0) then
  leave()
  local reserved = nil
  local slots = 0
  if not probe and queued == 0 then
    slots = math.max(0, math.min(tonumber(ARGV[11]), math.floor(tonumber(ARGV[2]) / 2) - inFlight - 1))
    local requests = 0
    if rate ~= nil then
      requests = tonumber(ARGV[12])
      if rpm > 0 then requests = math.min(requests, math.floor(r - rpm / 2)) end
      if tpm > 0 then
        if k < tpm / 2 then requests = 0
        elseif cost > 0 then requests = math.min(requests, math.floor((k - tpm / 2) / cost)) end
      end
      requests = math.max(0, requests)
      if requests > 0 then
        if rpm > 0 then r = r - requests end
        if tpm > 0 then k = k - requests * cost end
        store_bucket(KEYS[5], r, k, rpm, tpm)
        rate.requests = tostring(r)
        rate.tokens = tostring(k)
      end
    end
    if slots > 0 or requests > 0 then
      local tokens = 0
      if tpm > 0 then tokens = requests * cost end
      reserved = { slots = slots, requests = requests, tokens = tokens }
    end
  end
  redis.call('HINCRBY', KEYS[2], replica, 1 + slots)
  if probe then
    b.probeUntil = now + tonumber(ARGV[6])
    save_breaker(KEYS[1], b)
  end
  return cjson.encode({ kind = 'granted', probe = probe, rate = rate, reserved = reserved })
end
if fromQueue then return cjson.encode({ kind = 'queued', rate = rate }) end
if queued < tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[3], replica, 1)
  return cjson.encode({ kind = 'queued', rate = rate })
end
return cjson.encode({ kind = 'full', rate = rate })
`;

/**
 * KEYS: breaker, slots, queue. ARGV: replica, verdict, probe, pauseMs, openMs, consecutiveFailures,
 * failureRatio, windowSize, minAttempts, endpoint, channel, keep (maxConcurrency; 0: free the
 * slot). Returns the breaker as JSON, with kept = true when the slot stayed reserved (closed
 * breaker, nobody queued, at most half of maxConcurrency in use).
 */
export const FINISH = `${COMMON}
local replica = ARGV[1]
local verdict = ARGV[2]
local probe = ARGV[3] == '1'
local pauseMs = tonumber(ARGV[4])
local openMs = tonumber(ARGV[5])
local windowSize = tonumber(ARGV[8])
local keepMax = tonumber(ARGV[12])
local b = load_breaker(KEYS[1], openMs)
local before = b.state
local beforePause = b.pausedUntil
if pauseMs > 0 and now + pauseMs > b.pausedUntil then b.pausedUntil = now + pauseMs end
local function push(c)
  b.win = b.win .. c
  if #b.win > windowSize then b.win = string.sub(b.win, #b.win - windowSize + 1) end
end
local function open()
  b.state = 'open'
  b.openedAt = now
  b.probeUntil = 0
end
if verdict == 'success' then
  b.consec = 0
  push('1')
  if b.state == 'half-open' then
    b.state = 'closed'
    b.openedAt = 0
    b.win = ''
  end
  if probe then b.probeUntil = 0 end
elseif verdict == 'failure' then
  b.consec = b.consec + 1
  push('0')
  if b.state == 'half-open' then open()
  elseif b.state ~= 'open' then
    local _, fails = string.gsub(b.win, '0', '')
    local trips = #b.win >= tonumber(ARGV[9]) and fails / #b.win >= tonumber(ARGV[7])
    if b.consec >= tonumber(ARGV[6]) or trips then open() end
  end
elseif probe then
  b.probeUntil = 0
end
save_breaker(KEYS[1], b)
local s = snap(b, openMs)
if b.state ~= before or b.pausedUntil ~= beforePause then
  redis.call('PUBLISH', ARGV[11], cjson.encode({ type = 'breaker', endpoint = ARGV[10], breaker = s }))
end
local waiting = 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do waiting = waiting + tonumber(v) end
if keepMax > 0 and waiting == 0 and b.state == 'closed' and b.pausedUntil <= now then
  local inUse = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[2])) do inUse = inUse + tonumber(v) end
  if inUse <= math.floor(keepMax / 2) then
    s.kept = true
    return cjson.encode(s)
  end
end
dec(KEYS[2], replica)
if waiting > 0 then redis.call('PUBLISH', ARGV[11], cjson.encode({ type = 'slot', endpoint = ARGV[10] })) end
return cjson.encode(s)
`;

/**
 * KEYS: slots, queue per endpoint, then one bucket per key. ARGV: replica, channel, endpoints,
 * then name, slots per endpoint, then rpm, tpm, requests, tokens per bucket. Gives back what a
 * replica had reserved.
 */
export const RELEASE = `${COMMON}
local replica = ARGV[1]
local n = tonumber(ARGV[3])
for i = 1, n do
  local sk, qk = KEYS[2 * i - 1], KEYS[2 * i]
  local held = tonumber(redis.call('HGET', sk, replica) or '0')
  local give = math.min(held, tonumber(ARGV[3 + 2 * i]))
  if give > 0 then
    if held - give <= 0 then redis.call('HDEL', sk, replica) else redis.call('HSET', sk, replica, held - give) end
    local waiting = 0
    for _, v in ipairs(redis.call('HVALS', qk)) do waiting = waiting + tonumber(v) end
    if waiting > 0 then redis.call('PUBLISH', ARGV[2], cjson.encode({ type = 'slot', endpoint = ARGV[2 + 2 * i] })) end
  end
end
for j = 1, #KEYS - 2 * n do
  local a = 3 + 2 * n + 4 * (j - 1)
  local rpm, tpm = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local key = KEYS[2 * n + j]
  local r, k = read_bucket(key, rpm, tpm)
  if rpm > 0 then r = math.min(rpm, r + tonumber(ARGV[a + 3])) end
  if tpm > 0 then k = math.min(tpm, k + tonumber(ARGV[a + 4])) end
  store_bucket(key, r, k, rpm, tpm)
end
return 1
`;

/** KEYS: queue. ARGV: replica. */
export const LEAVE_QUEUE = `${COMMON}
dec(KEYS[1], ARGV[1])
return 1
`;

/** KEYS: one bucket per settlement. ARGV: rpm, tpm, delta per settlement. */
export const SETTLE = `${COMMON}
for i = 1, #KEYS do
  settle(KEYS[i], tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]))
end
return 1
`;

/** KEYS: leases. ARGV: replica, ttlMs, endpoint names. Returns the names this replica holds. */
export const LEASES = `${COMMON}
local replica = ARGV[1]
local ttl = tonumber(ARGV[2])
local owned = {}
for i = 3, #ARGV do
  local name = ARGV[i]
  local v = redis.call('HGET', KEYS[1], name)
  local mine = true
  if v then
    local sep = string.find(v, '|', 1, true)
    if string.sub(v, 1, sep - 1) ~= replica and tonumber(string.sub(v, sep + 1)) > now then mine = false end
  end
  if mine then
    redis.call('HSET', KEYS[1], name, replica .. '|' .. tostring(now + ttl))
    owned[#owned + 1] = name
  end
end
return owned
`;

/**
 * KEYS: alive, then breaker, slots, queue per endpoint. ARGV: replica, ttlMs, restate, openMs, then
 * per endpoint: name, inFlight, queued, openRemainingMs (-1: not opened here), consecutive.
 */
export const HEARTBEAT = `${COMMON}
local replica = ARGV[1]
local restate = ARGV[3] == '1'
local openMs = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], replica, tostring(now + tonumber(ARGV[2])))
local replicas = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now then redis.call('HDEL', KEYS[1], all[i]) else replicas = replicas + 1 end
end
local out = {}
local n = (#KEYS - 1) / 3
for i = 1, n do
  local bk, sk, qk = KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1]
  local a = 4 + 5 * (i - 1)
  local name = ARGV[a + 1]
  if restate then
    local held, queued = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    if held > 0 then redis.call('HSET', sk, replica, held) else redis.call('HDEL', sk, replica) end
    if queued > 0 then redis.call('HSET', qk, replica, queued) else redis.call('HDEL', qk, replica) end
  end
  local b = load_breaker(bk, openMs)
  local opened = tonumber(ARGV[a + 4])
  if opened >= 0 and b.state == 'closed' then
    -- Opened here while cut off: the worse picture wins.
    b.state = 'open'
    b.openedAt = now - openMs + opened
    b.consec = tonumber(ARGV[a + 5])
    save_breaker(bk, b)
  end
  out[name] = snap(b, openMs)
end
return cjson.encode({ breakers = out, replicas = replicas })
`;

/** KEYS: alive, then slots, queue per endpoint. Returns [inFlight, queued] per endpoint as JSON. */
export const USAGE = `${COMMON}
local out = {}
for i = 1, (#KEYS - 1) / 2 do
  out[i] = { live_sum(KEYS[2 * i], KEYS[1]), live_sum(KEYS[2 * i + 1], KEYS[1]) }
end
return cjson.encode(out)
`;
