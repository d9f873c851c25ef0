-- chat-service's shared room log (redis/redis_log.h): every change to a room
-- goes through this one script, so that checking it (is the name free? is
-- the client id new?) and ordering it (the next seq, the stream entry) are
-- one atomic step on the room's Redis.
--
-- ARGV: op, node, now (ms), maxlen, then per op. Keys for the room ops:
-- KEYS = log, meta, names, ids, idtimes. reap and drop take no KEYS and
-- touch the rooms they find (a standalone Redis, not Redis Cluster).
--
-- A member record (chat:{ROOM}:names): node|member|transport|owner|joined
-- seq|resume secret|name. A stream entry: ms (time), k (j joined, l left,
-- r renamed, m message), n (node), u (member id there), t (the node's
-- ticket), and per kind: name, tr (transport), why, rj (rejoined: hn, hu
-- the member replaced, s the secret the taker holds), old, p (a message:
-- chat.v1.ChatResponse bytes).
local op, me, now, maxlen = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local function split(rec)
  local n, u, tr, ow, js, sec, name = string.match(rec,
    '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return {node = n, member = u, transport = tr, owner = ow, joined = js,
          secret = sec, name = name}
end

local function record(r)
  return table.concat({r.node, r.member, r.transport, r.owner, r.joined,
                       r.secret, r.name}, '|')
end

local function alive(node)
  return redis.call('EXISTS', 'chat:node:' .. node) == 1
end

local function append(L, M, fields)
  local seq = redis.call('HINCRBY', M, 'seq', 1)
  redis.call('XADD', L, 'MAXLEN', '~', maxlen, seq .. '-0', 'ms', now,
             unpack(fields))
  return seq
end

-- Takes out a member whose node is lost or stopping: a leave, for everyone.
local function drop(L, M, N, key, r, why)
  redis.call('HDEL', N, key)
  return append(L, M, {'k', 'l', 'n', r.node, 'u', r.member, 'name', r.name,
                       'tr', r.transport, 'why', why})
end

if op == 'reap' or op == 'drop' then
  -- reap: every node whose lease expired; drop: this node, stopping.
  local gone = {}
  local nodes = redis.call('SMEMBERS', 'chat:nodes')
  local why = 'node lost'
  if op == 'drop' then nodes, why = {me}, ARGV[5] end
  for _, node in ipairs(nodes) do
    if op == 'drop' or not alive(node) then
      local rooms = 'chat:node:' .. node .. ':rooms'
      for _, room in ipairs(redis.call('SMEMBERS', rooms)) do
        local L = 'chat:{' .. room .. '}:log'
        local M = 'chat:{' .. room .. '}:meta'
        local N = 'chat:{' .. room .. '}:names'
        if redis.call('EXISTS', M) == 1 then
          local all = redis.call('HGETALL', N)
          for i = 1, #all, 2 do
            local r = split(all[i + 1])
            if r.node == node then drop(L, M, N, all[i], r, why) end
          end
        end
      end
      redis.call('DEL', rooms)
      redis.call('SREM', 'chat:nodes', node)
      if op == 'drop' then redis.call('DEL', 'chat:node:' .. node) end
      table.insert(gone, node)
    end
  end
  return gone
end

local L, M, N, I, Z = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local room, epoch = ARGV[5], ARGV[6]

if op == 'open' then
  -- The room's epoch (a new one if Redis has none, or lost its stream),
  -- last seq, members and last ARGV[7] events.
  local have = redis.call('HGET', M, 'epoch')
  if (not have) or (tonumber(redis.call('HGET', M, 'seq') or '0') > 0 and
                    redis.call('EXISTS', L) == 0) then
    redis.call('DEL', L, N, I, Z)
    redis.call('HSET', M, 'epoch', epoch, 'seq', 0)
    have = epoch
  end
  local recent = redis.call('XREVRANGE', L, '+', '-', 'COUNT', ARGV[7])
  return {have, redis.call('HGET', M, 'seq'), redis.call('HGETALL', N),
          recent}
end

-- Every other op is for the history the node opened.
if redis.call('HGET', M, 'epoch') ~= epoch then return {'lost'} end
local ticket, member = ARGV[7], ARGV[8]

-- True when `bare` (a guest's name without its mark) is held by its owner.
local function owner_here(bare)
  if bare == '' then return false end
  local rec = redis.call('HGET', N, bare)
  if not rec then return false end
  local r = split(rec)
  if alive(r.node) then return true end
  drop(L, M, N, bare, r, 'node lost')
  return false
end

-- The record of `key` when this node's member holds it.
local function mine(key)
  local rec = redis.call('HGET', N, key)
  if not rec then return nil end
  local r = split(rec)
  if r.node ~= me or r.member ~= member then return nil end
  return r
end

if op == 'join' then
  local key, name, tr, owner, secret, presented, takeover, bare =
    ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15],
    ARGV[16]
  if owner_here(bare) then return {'err', 'owner'} end
  local held = nil
  local rec = redis.call('HGET', N, key)
  if rec then
    held = split(rec)
    if not alive(held.node) then
      drop(L, M, N, key, held, 'node lost')
      held = nil
    elseif not ((presented ~= '' and presented == held.secret) or
                (takeover == '1' and held.owner == '1')) then
      return {'err', 'taken'}
    end
  end
  redis.call('SADD', 'chat:node:' .. me .. ':rooms', room)
  if held then
    -- Takes the holder's place: one member_left with rejoined, no join.
    local resumed = presented ~= '' and presented == held.secret
    local kept = secret
    local why = 'signed in elsewhere'
    if resumed then kept, why = held.secret, 'reconnected elsewhere' end
    local seq = append(L, M, {'k', 'l', 'n', me, 'u', member, 't', ticket,
      'name', name, 'tr', tr, 'why', why, 'rj', '1', 'hn', held.node,
      'hu', held.member, 's', kept})
    redis.call('HSET', N, key, record({node = me, member = member,
      transport = tr, owner = owner, joined = held.joined, secret = kept,
      name = name}))
    return {'ok', seq}
  end
  local seq = append(L, M, {'k', 'j', 'n', me, 'u', member, 't', ticket,
                            'name', name, 'tr', tr})
  redis.call('HSET', N, key, record({node = me, member = member,
    transport = tr, owner = owner, joined = seq, secret = secret,
    name = name}))
  return {'ok', seq}
end

if op == 'leave' then
  local key, why = ARGV[9], ARGV[10]
  local r = mine(key)
  if not r then return {'err', 'gone'} end
  redis.call('HDEL', N, key)
  return {'ok', append(L, M, {'k', 'l', 'n', me, 'u', member, 't', ticket,
                              'name', r.name, 'tr', r.transport,
                              'why', why})}
end

if op == 'rename' then
  local old, key, name, owner, bare =
    ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]
  local r = mine(old)
  if not r then return {'err', 'gone'} end
  if key ~= old then
    if owner_here(bare) then return {'err', 'owner'} end
    local other = redis.call('HGET', N, key)
    if other then
      local o = split(other)
      if alive(o.node) then return {'err', 'taken'} end
      drop(L, M, N, key, o, 'node lost')
    end
  end
  local oldname = r.name
  redis.call('HDEL', N, old)
  r.name, r.owner = name, owner
  redis.call('HSET', N, key, record(r))
  return {'ok', append(L, M, {'k', 'r', 'n', me, 'u', member, 't', ticket,
                              'old', oldname, 'name', name})}
end

if op == 'msg' then
  local key, payload, id = ARGV[9], ARGV[10], ARGV[11]
  local window, most = tonumber(ARGV[12]), tonumber(ARGV[13])
  if not mine(key) then return {'err', 'gone'} end
  if id ~= '' then
    local t = redis.call('ZSCORE', Z, id)
    if t and tonumber(now) - tonumber(t) < window then
      return {'dup', redis.call('HGET', I, id)}
    end
  end
  local seq = append(L, M, {'k', 'm', 'n', me, 'u', member, 't', ticket,
                            'p', payload})
  if id ~= '' then
    redis.call('HSET', I, id, seq)
    redis.call('ZADD', Z, now, id)
    local old = redis.call('ZRANGEBYSCORE', Z, '-inf', tonumber(now) - window,
                           'LIMIT', 0, 64)
    for _, o in ipairs(old) do
      redis.call('HDEL', I, o)
      redis.call('ZREM', Z, o)
    end
    local n = redis.call('ZCARD', Z)
    if n > most then
      for _, o in ipairs(redis.call('ZRANGE', Z, 0, n - most - 1)) do
        redis.call('HDEL', I, o)
      end
      redis.call('ZREMRANGEBYRANK', Z, 0, n - most - 1)
    end
  end
  return {'ok', seq}
end

return redis.error_reply('chat room script: unknown op ' .. tostring(op))
