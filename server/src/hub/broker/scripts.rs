//! The Lua scripts that change what Redis holds. Each runs atomically in Redis, so two nodes
//! publishing to one stream at once get one gapless sequence, and a check (a limit, the
//! series of an unnamed point) holds for the write that follows it.
//!
//! Keys, all under the configured prefix `P` (names are `[A-Za-z0-9_.-]`, so `:` separates):
//! - `P:instance`: set once per Redis data set; another value (or none) means a wipe.
//! - `P:last-epoch`: the last epoch handed out; new epochs are above it and the clock.
//! - `P:streams`: the set of stream names (the catalog).
//! - `P:catalog`: a Redis stream with one entry per catalog change (`stream` = its name).
//! - `P:s:NAME`: hash `epoch`, `seq` (last sequence number), `meta` (JSON), `pinned`,
//!   `active_ms` (last publish), `watched_ms` (last seen with a viewer, for expiry).
//! - `P:e:NAME`: the events, a Redis stream whose entry ids are `SEQ-0`, fields `e` (epoch)
//!   and `p` (the points, `store::codec`), trimmed to about `ring-events`.
//! - `P:series:NAME`: the stream's series; `P:w:NAME:SERIES`: its window, a list of 16-byte
//!   points (i64 ts, f64 value, little-endian), trimmed to `window`.
//! - `P:pub:TOKEN`: what became of one publish call, for a minute: `EPOCH-SEQ` once applied,
//!   `cancelled` when the node that sent it gave up first (then it never applies). A node
//!   whose call went unanswered (a stall, a lost connection) asks with `OUTCOME` and answers
//!   its publisher with the truth, never a guess.
//!
//! Numbers go in and out as decimal strings (`fmt`): Lua's own formatting of a large number
//! would lose digits.

use redis::Script;
use std::sync::LazyLock;

const PRELUDE: &str = r"
local p = ARGV[1]
local function fmt(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function new_epoch()
  local last = tonumber(redis.call('GET', p .. ':last-epoch') or '0')
  local e = math.max(now_ms(), last + 1)
  redis.call('SET', p .. ':last-epoch', fmt(e))
  return e
end
local function announce(name)
  redis.call('XADD', p .. ':catalog', 'MAXLEN', '~', '10000', '*', 'stream', name)
end
local function drop_history(name)
  local sk = p .. ':series:' .. name
  for _, s in ipairs(redis.call('SMEMBERS', sk)) do
    redis.call('DEL', p .. ':w:' .. name .. ':' .. s)
  end
  redis.call('DEL', sk, p .. ':e:' .. name)
end
-- The stream's epoch and last sequence number; created when missing if `create`.
-- On failure: nil and the error's word.
local function ensure(name, create, max_streams, instance)
  redis.call('SET', p .. ':instance', instance, 'NX')
  local meta = p .. ':s:' .. name
  local h = redis.call('HMGET', meta, 'epoch', 'seq')
  if h[1] then return tonumber(h[1]), tonumber(h[2]) end
  if not create then return nil, 'unknown_stream' end
  if redis.call('SCARD', p .. ':streams') >= max_streams then return nil, 'too_many_streams' end
  drop_history(name)
  local e = new_epoch()
  redis.call('HSET', meta, 'epoch', fmt(e), 'seq', '0', 'active_ms', fmt(now_ms()))
  redis.call('SADD', p .. ':streams', name)
  announce(name)
  return e, 0
end
";

/// Appends one event. ARGV: prefix, name, create (0/1), max streams, max series, window,
/// events kept, the epoch and last sequence number this node has seen (0 0 if none),
/// the series unnamed points were given ('' if none), the default series, this node's
/// instance mark, now (ms), the encoded points, the number of series, then per series its
/// name and its points as 16-byte records, and last the call's token.
/// Returns `{'ok', epoch, seq}`, `{word}`, or `{word, series...}` for series problems;
/// `{'cancelled'}` when `OUTCOME` ran first for this token.
const PUBLISH: &str = r"
local name = ARGV[2]
local n = tonumber(ARGV[15])
local token_key = p .. ':pub:' .. ARGV[16 + 2 * n]
local epoch, seq = ensure(name, ARGV[3] == '1', tonumber(ARGV[4]), ARGV[12])
if not epoch then return {seq} end
local meta = p .. ':s:' .. name
if epoch == tonumber(ARGV[8]) and seq < tonumber(ARGV[9]) then
  -- A node has seen more of this epoch than Redis holds: Redis was rolled back, and the
  -- ids after `seq` were already given to other events. Start a new epoch.
  epoch = new_epoch()
  redis.call('HSET', meta, 'epoch', fmt(epoch))
  announce(name)
end
local sk = p .. ':series:' .. name
local count = redis.call('SCARD', sk)
if ARGV[10] ~= '' then
  local only = false
  if count == 0 then only = ARGV[11] elseif count == 1 then only = redis.call('SRANDMEMBER', sk) end
  if only ~= ARGV[10] then
    local out = {'series'}
    for _, s in ipairs(redis.call('SMEMBERS', sk)) do out[#out + 1] = s end
    return out
  end
end
local fresh = 0
for i = 0, n - 1 do
  if redis.call('SISMEMBER', sk, ARGV[16 + 2 * i]) == 0 then fresh = fresh + 1 end
end
if count + fresh > tonumber(ARGV[5]) then
  local out = {'too_many_series'}
  for _, s in ipairs(redis.call('SMEMBERS', sk)) do out[#out + 1] = s end
  return out
end
-- Every check passed: from here the call applies, unless its node gave up on it first.
if not redis.call('SET', token_key, '-', 'NX', 'PX', '60000') then return {'cancelled'} end
seq = seq + 1
local ek = p .. ':e:' .. name
local added = redis.pcall('XADD', ek, 'MAXLEN', '~', ARGV[7], fmt(seq) .. '-0',
  'e', fmt(epoch), 'p', ARGV[14])
if type(added) == 'table' and added.err then
  -- The events already go past `seq` (the hash and the events disagree, as after a partial
  -- restore): continue after them, in a new epoch, so that no id is given twice.
  local info = redis.call('XINFO', 'STREAM', ek)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then seq = tonumber(string.match(info[i + 1], '^(%d+)')) + 1 end
  end
  epoch = new_epoch()
  redis.call('HSET', meta, 'epoch', fmt(epoch))
  announce(name)
  redis.call('XADD', ek, 'MAXLEN', '~', ARGV[7], fmt(seq) .. '-0', 'e', fmt(epoch), 'p', ARGV[14])
end
redis.call('HSET', meta, 'seq', fmt(seq), 'active_ms', ARGV[13])
local window = tonumber(ARGV[6])
for i = 0, n - 1 do
  local s, blob = ARGV[16 + 2 * i], ARGV[17 + 2 * i]
  redis.call('SADD', sk, s)
  local wk = p .. ':w:' .. name .. ':' .. s
  local items = {}
  for j = math.max(1, #blob - window * 16 + 1), #blob, 16 do
    items[#items + 1] = string.sub(blob, j, j + 15)
    if #items == 500 then
      redis.call('RPUSH', wk, unpack(items))
      items = {}
    end
  end
  if #items > 0 then redis.call('RPUSH', wk, unpack(items)) end
  redis.call('LTRIM', wk, -window, -1)
end
redis.call('SET', token_key, fmt(epoch) .. '-' .. fmt(seq), 'PX', '60000')
return {'ok', epoch, seq}
";

/// What became of a publish call whose answer never came. ARGV: prefix, the call's token.
/// Atomically: if the call has not applied, it never will (`{'cancelled'}`); else
/// `{'was', 'EPOCH-SEQ'}` (or `{'was', 'cancelled'}` when asked before).
const OUTCOME: &str = r"
local key = p .. ':pub:' .. ARGV[2]
if redis.call('SET', key, 'cancelled', 'NX', 'PX', '60000') then return {'cancelled'} end
return {'was', redis.call('GET', key)}
";

/// Sets a stream's description. ARGV: prefix, name, create (0/1), max streams, the
/// description (JSON), this node's instance mark. Returns `{'ok', epoch, seq}` or `{word}`.
const DESCRIBE: &str = r"
local epoch, seq = ensure(ARGV[2], ARGV[3] == '1', tonumber(ARGV[4]), ARGV[6])
if not epoch then return {seq} end
redis.call('HSET', p .. ':s:' .. ARGV[2], 'meta', ARGV[5])
announce(ARGV[2])
return {'ok', epoch, seq}
";

/// Makes a stream exist for good (declared, or fed by a built-in source). ARGV: prefix,
/// name, this node's instance mark. Returns `{'ok', epoch, seq}`.
const PIN: &str = r"
local epoch, seq = ensure(ARGV[2], true, 1e15, ARGV[3])
redis.call('HSET', p .. ':s:' .. ARGV[2], 'pinned', '1')
return {'ok', epoch, seq}
";

/// Removes a stream and its history. ARGV: prefix, name, and a cutoff (ms) or ''. With a
/// cutoff, only a stream nobody published to or watched since then goes. Returns
/// `removed`, `unknown_stream`, `pinned` or `active`.
const REMOVE: &str = r"
local name = ARGV[2]
local meta = p .. ':s:' .. name
local h = redis.call('HMGET', meta, 'epoch', 'pinned', 'active_ms', 'watched_ms')
if not h[1] then return 'unknown_stream' end
if h[2] == '1' then return 'pinned' end
if ARGV[3] ~= '' then
  local last = math.max(tonumber(h[3] or '0') or 0, tonumber(h[4] or '0') or 0)
  if last >= tonumber(ARGV[3]) then return 'active' end
end
drop_history(name)
redis.call('DEL', meta)
redis.call('SREM', p .. ':streams', name)
announce(name)
return 'removed'
";

/// Notes that streams have viewers now (for expiry). ARGV: prefix, now (ms), names...
const WATCHED: &str = r"
for i = 3, #ARGV do
  local meta = p .. ':s:' .. ARGV[i]
  if redis.call('EXISTS', meta) == 1 then redis.call('HSET', meta, 'watched_ms', ARGV[2]) end
end
return 'ok'
";

/// A node saw a sequence number Redis no longer has (a rollback): if the stream is still in
/// that epoch and behind, it starts a new epoch. ARGV: prefix, name, epoch, seq seen.
const REBASE: &str = r"
local meta = p .. ':s:' .. ARGV[2]
local h = redis.call('HMGET', meta, 'epoch', 'seq')
if h[1] and tonumber(h[1]) == tonumber(ARGV[3]) and tonumber(h[2]) < tonumber(ARGV[4]) then
  redis.call('HSET', meta, 'epoch', fmt(new_epoch()))
  announce(ARGV[2])
end
return 'ok'
";

/// Everything about one stream at one moment, or `{}` if it does not exist. ARGV: prefix,
/// name, how many events. Returns `{epoch, seq, meta, pinned, {series, points...}, events}`
/// with the events newest first.
const LOAD: &str = r"
local name = ARGV[2]
local h = redis.call('HMGET', p .. ':s:' .. name, 'epoch', 'seq', 'meta', 'pinned')
if not h[1] then return {} end
local windows = {}
for _, s in ipairs(redis.call('SMEMBERS', p .. ':series:' .. name)) do
  windows[#windows + 1] = s
  windows[#windows + 1] = table.concat(redis.call('LRANGE', p .. ':w:' .. name .. ':' .. s, 0, -1))
end
local events = redis.call('XREVRANGE', p .. ':e:' .. name, '+', '-', 'COUNT', ARGV[3])
return {h[1], h[2], h[3] or '', h[4] or '0', windows, events}
";

/// The instance mark and, per name, its epoch and last sequence number ('' if missing).
/// ARGV: prefix, names...
const POSITIONS: &str = r"
local out = {redis.call('GET', p .. ':instance') or ''}
for i = 2, #ARGV do
  local h = redis.call('HMGET', p .. ':s:' .. ARGV[i], 'epoch', 'seq')
  out[#out + 1] = h[1] or ''
  out[#out + 1] = h[2] or ''
end
return out
";

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}{body}"))
}

pub(super) static PUBLISH_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(PUBLISH));
pub(super) static OUTCOME_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(OUTCOME));
pub(super) static DESCRIBE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(DESCRIBE));
pub(super) static PIN_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(PIN));
pub(super) static REMOVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(REMOVE));
pub(super) static WATCHED_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(WATCHED));
pub(super) static REBASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(REBASE));
pub(super) static LOAD_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(LOAD));
pub(super) static POSITIONS_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(POSITIONS));
