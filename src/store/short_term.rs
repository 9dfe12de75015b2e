//! The short-term window: the last turns of each conversation, kept close at hand so a chat turn
//! does not have to read history from SQL. Redis when `REDIS_URL` is set (shared by replicas),
//! in-process otherwise. A window is a cache: a miss means "load it from SQL and `replace` it".

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use entity::enums::MessageRole;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One message as the window keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub message_id: Uuid,
    pub role: MessageRole,
    pub content: String,
}

/// How much of a conversation the window keeps, and for how long after its last use.
#[derive(Clone, Copy, Debug)]
pub struct WindowPolicy {
    pub max_turns: usize,
    pub ttl: Duration,
}

impl Default for WindowPolicy {
    fn default() -> Self {
        Self { max_turns: 20, ttl: Duration::from_secs(24 * 3600) }
    }
}

#[async_trait]
pub trait ShortTermStore: Send + Sync {
    /// Which implementation this is, for logs and `/readyz`.
    fn name(&self) -> &'static str;

    /// Appends a turn to a window that is already cached (oldest turns beyond the cap fall off).
    /// A window that is not cached stays absent, so a later read misses and reloads it whole
    /// from SQL instead of seeing a window with a hole in it.
    async fn push(&self, conversation: Uuid, turn: &Turn) -> anyhow::Result<()>;

    /// The cached window, oldest turn first, or `None` on a miss.
    async fn window(&self, conversation: Uuid) -> anyhow::Result<Option<Vec<Turn>>>;

    /// Replaces the window (after loading it from SQL), keeping the newest `max_turns`.
    async fn replace(&self, conversation: Uuid, turns: &[Turn]) -> anyhow::Result<()>;

    /// Drops the window (the conversation was deleted).
    async fn forget(&self, conversation: Uuid) -> anyhow::Result<()>;

    /// Checks that the store can be used (for `/readyz`).
    async fn ping(&self) -> anyhow::Result<()>;

    /// Takes one of `max` slots named `key` (a user's concurrent streams, across replicas);
    /// `false` when all are taken. Slots expire after `ttl` in case a holder dies holding one.
    async fn acquire_slot(&self, key: &str, max: u32, ttl: Duration) -> anyhow::Result<bool>;

    /// Gives back a slot taken with [`acquire_slot`](Self::acquire_slot).
    async fn release_slot(&self, key: &str) -> anyhow::Result<()>;

    /// Adds to counters (a user's Claude calls and tokens this minute, this day, across
    /// replicas); a counter that does not exist yet starts at 0 and disappears after its `ttl`.
    async fn add_to_counters(&self, counters: &[Counter]) -> anyhow::Result<()>;

    /// The current values of counters, 0 for those that do not exist (or expired).
    async fn counters(&self, keys: &[String]) -> anyhow::Result<Vec<u64>>;

    /// The text of the automatic persisted query registered under `hash` (its SHA-256 in hex),
    /// if it is still kept; reading it keeps it longer.
    async fn persisted_query(&self, hash: &str) -> anyhow::Result<Option<String>>;

    /// Keeps `query` under `hash`, so any replica can answer a request that sends only the hash.
    async fn persist_query(&self, hash: &str, query: &str) -> anyhow::Result<()>;
}

/// An amount to add to the counter `key`, which lives for `ttl` from its first addition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    pub amount: u64,
    pub ttl: Duration,
}

/// How long Redis keeps a persisted query after its last use, and how many this process keeps
/// without Redis.
#[derive(Clone, Copy, Debug)]
pub struct PersistedQueryPolicy {
    pub ttl: Duration,
    pub max_entries: usize,
}

impl Default for PersistedQueryPolicy {
    fn default() -> Self {
        Self { ttl: Duration::from_secs(24 * 3600), max_entries: 1000 }
    }
}

/// Windows in Redis lists, one key per conversation, capped with LTRIM and expired with a TTL.
///
/// While Redis cannot be reached, stream slots and counters are kept in this process instead
/// (limits then hold per replica rather than across them), so chat keeps working; every call
/// tries Redis first, so the store is back to Redis as soon as Redis is.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    key_prefix: String,
    policy: WindowPolicy,
    query_ttl: Duration,
    /// Slots and counters while Redis is unreachable.
    local: std::sync::Arc<InProcessStore>,
}

impl RedisStore {
    pub async fn connect(url: &str, key_prefix: &str, policy: WindowPolicy) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            // A command while Redis is down fails after one reconnection attempt (and the caller
            // degrades) instead of waiting through a series of backoffs; the next command tries
            // again, so recovery needs nothing but Redis being back.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection =
            tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager_with_config(config))
                .await
                .context("timed out connecting to Redis")?
                .context("could not connect to Redis")?;
        let query_ttl = PersistedQueryPolicy::default().ttl;
        let local = std::sync::Arc::new(InProcessStore::new(policy));
        Ok(Self { connection, key_prefix: key_prefix.to_owned(), policy, query_ttl, local })
    }

    /// Sets how long a persisted query lives after its last use.
    pub fn with_persisted_queries(mut self, policy: PersistedQueryPolicy) -> Self {
        self.query_ttl = policy.ttl;
        self
    }

    fn counter_key(&self, key: &str) -> String {
        format!("{}counter:{key}", self.key_prefix)
    }

    fn query_key(&self, hash: &str) -> String {
        format!("{}apq:{hash}", self.key_prefix)
    }

    fn key(&self, conversation: Uuid) -> String {
        format!("{}window:{conversation}", self.key_prefix)
    }

    fn ttl_secs(&self) -> i64 {
        self.policy.ttl.as_secs().max(1) as i64
    }

    fn trim_start(&self) -> isize {
        -(self.policy.max_turns as isize)
    }
}

#[async_trait]
impl ShortTermStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn push(&self, conversation: Uuid, turn: &Turn) -> anyhow::Result<()> {
        let key = self.key(conversation);
        let value = serde_json::to_string(turn)?;
        let mut connection = self.connection.clone();
        redis::pipe()
            .atomic()
            .cmd("RPUSHX")
            .arg(&key)
            .arg(value)
            .ignore()
            .ltrim(&key, self.trim_start(), -1)
            .ignore()
            .expire(&key, self.ttl_secs())
            .ignore()
            .query_async::<()>(&mut connection)
            .await
            .with_context(|| format!("redis: appending to the window of conversation {conversation}"))
    }

    async fn window(&self, conversation: Uuid) -> anyhow::Result<Option<Vec<Turn>>> {
        let mut connection = self.connection.clone();
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(self.key(conversation))
            .arg(0)
            .arg(-1)
            .query_async(&mut connection)
            .await
            .with_context(|| format!("redis: reading the window of conversation {conversation}"))?;
        if raw.is_empty() {
            return Ok(None);
        }
        raw.iter()
            .map(|item| serde_json::from_str(item).context("redis: a window entry is not a turn"))
            .collect::<anyhow::Result<Vec<Turn>>>()
            .map(Some)
    }

    async fn replace(&self, conversation: Uuid, turns: &[Turn]) -> anyhow::Result<()> {
        let key = self.key(conversation);
        let keep = &turns[turns.len().saturating_sub(self.policy.max_turns)..];
        let values = keep.iter().map(serde_json::to_string).collect::<Result<Vec<_>, _>>()?;
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        if !values.is_empty() {
            pipe.rpush(&key, values).ignore().expire(&key, self.ttl_secs()).ignore();
        }
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection)
            .await
            .with_context(|| format!("redis: replacing the window of conversation {conversation}"))
    }

    async fn forget(&self, conversation: Uuid) -> anyhow::Result<()> {
        let mut connection = self.connection.clone();
        redis::cmd("DEL")
            .arg(self.key(conversation))
            .query_async::<()>(&mut connection)
            .await
            .with_context(|| format!("redis: deleting the window of conversation {conversation}"))
    }

    async fn ping(&self) -> anyhow::Result<()> {
        let mut connection = self.connection.clone();
        redis::cmd("PING").query_async::<String>(&mut connection).await.context("redis: PING failed")?;
        Ok(())
    }

    async fn acquire_slot(&self, key: &str, max: u32, ttl: Duration) -> anyhow::Result<bool> {
        // Atomic check-and-take, so two replicas cannot both take the last slot. Each slot is a
        // member of a sorted set scored by its own expiry (Redis's clock): one left behind by a
        // replica that died goes when its time is up, however many slots are taken after it.
        let script = redis::Script::new(
            r"local time = redis.call('TIME')
              local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
              redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
              if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
              local expires = now + tonumber(ARGV[2])
              redis.call('ZADD', KEYS[1], expires, ARGV[3])
              redis.call('PEXPIREAT', KEYS[1], expires)
              return 1",
        );
        let mut connection = self.connection.clone();
        let taken: Result<i32, _> = script
            .key(format!("{}slots:{key}", self.key_prefix))
            .arg(max)
            .arg(ttl.as_millis().max(1) as u64)
            .arg(Uuid::new_v4().to_string())
            .invoke_async(&mut connection)
            .await;
        match taken {
            Ok(taken) => Ok(taken == 1),
            Err(error) => {
                tracing::warn!(%error, "redis: could not take a stream slot; counting in this process until Redis is back");
                self.local.acquire_slot(key, max, ttl).await
            }
        }
    }

    async fn release_slot(&self, key: &str) -> anyhow::Result<()> {
        if self.local.holds_slot(key) {
            return self.local.release_slot(key).await;
        }
        // Any one slot of the key: slots are alike, and the one given back is the one that
        // would have lived longest, so what remains expires soonest.
        let mut connection = self.connection.clone();
        redis::cmd("ZPOPMAX")
            .arg(format!("{}slots:{key}", self.key_prefix))
            .query_async::<()>(&mut connection)
            .await
            .with_context(|| format!("redis: releasing a slot of {key}"))
    }

    async fn add_to_counters(&self, counters: &[Counter]) -> anyhow::Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for counter in counters {
            let key = self.counter_key(&counter.key);
            // The expiry is set once, when the counter is made: a window ends when it ends,
            // however often it is added to.
            pipe.cmd("SET").arg(&key).arg(0).arg("EX").arg(counter.ttl.as_secs().max(1)).arg("NX").ignore();
            pipe.cmd("INCRBY").arg(&key).arg(counter.amount).ignore();
        }
        let mut connection = self.connection.clone();
        if let Err(error) = pipe.query_async::<()>(&mut connection).await {
            tracing::warn!(%error, "redis: could not add to counters; counting in this process until Redis is back");
            return self.local.add_to_counters(counters).await;
        }
        Ok(())
    }

    async fn counters(&self, keys: &[String]) -> anyhow::Result<Vec<u64>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let prefixed: Vec<String> = keys.iter().map(|key| self.counter_key(key)).collect();
        let mut connection = self.connection.clone();
        match redis::cmd("MGET").arg(&prefixed).query_async::<Vec<Option<u64>>>(&mut connection).await {
            Ok(values) => Ok(values.into_iter().map(Option::unwrap_or_default).collect()),
            Err(error) => {
                tracing::warn!(%error, "redis: could not read counters; using this process's count until Redis is back");
                self.local.counters(keys).await
            }
        }
    }

    async fn persisted_query(&self, hash: &str) -> anyhow::Result<Option<String>> {
        let mut connection = self.connection.clone();
        // GETEX refreshes the expiry in the same round trip: a query in use never expires.
        redis::cmd("GETEX")
            .arg(self.query_key(hash))
            .arg("EX")
            .arg(self.query_ttl.as_secs().max(1))
            .query_async(&mut connection)
            .await
            .context("redis: reading a persisted query")
    }

    async fn persist_query(&self, hash: &str, query: &str) -> anyhow::Result<()> {
        let mut connection = self.connection.clone();
        redis::cmd("SET")
            .arg(self.query_key(hash))
            .arg(query)
            .arg("EX")
            .arg(self.query_ttl.as_secs().max(1))
            .query_async::<()>(&mut connection)
            .await
            .context("redis: storing a persisted query")
    }
}

struct CachedWindow {
    turns: VecDeque<Turn>,
    expires_at: Instant,
}

/// Windows in this process's memory, for a single instance with no Redis.
pub struct InProcessStore {
    windows: Mutex<HashMap<Uuid, CachedWindow>>,
    slots: Mutex<HashMap<String, u32>>,
    counters: Mutex<HashMap<String, (u64, Instant)>>,
    /// Bounded: anyone may register a query, so the least recently used go first.
    queries: Mutex<lru::LruCache<String, String>>,
    policy: WindowPolicy,
}

/// Above this many cached windows, expired ones are swept out on the next write.
const SWEEP_ABOVE: usize = 4096;

impl InProcessStore {
    pub fn new(policy: WindowPolicy) -> Self {
        Self {
            windows: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            counters: Mutex::new(HashMap::new()),
            queries: Mutex::new(lru::LruCache::new(query_capacity(PersistedQueryPolicy::default()))),
            policy,
        }
    }

    /// Sets how many persisted queries this process keeps.
    pub fn with_persisted_queries(self, policy: PersistedQueryPolicy) -> Self {
        Self { queries: Mutex::new(lru::LruCache::new(query_capacity(policy))), ..self }
    }

    fn lock_queries(&self) -> std::sync::MutexGuard<'_, lru::LruCache<String, String>> {
        self.queries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, CachedWindow>> {
        // A panic while holding the lock cannot leave a window half-written in a way that
        // matters for a cache, so a poisoned lock is still usable.
        self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a slot of `key` is taken here.
    fn holds_slot(&self, key: &str) -> bool {
        self.lock_slots().get(key).is_some_and(|taken| *taken > 0)
    }
}

#[async_trait]
impl ShortTermStore for InProcessStore {
    fn name(&self) -> &'static str {
        "in-process"
    }

    async fn push(&self, conversation: Uuid, turn: &Turn) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut windows = self.lock();
        match windows.get_mut(&conversation) {
            Some(window) if window.expires_at > now => {
                window.turns.push_back(turn.clone());
                while window.turns.len() > self.policy.max_turns {
                    window.turns.pop_front();
                }
                window.expires_at = now + self.policy.ttl;
            }
            Some(_) => {
                windows.remove(&conversation);
            }
            None => {}
        }
        Ok(())
    }

    async fn window(&self, conversation: Uuid) -> anyhow::Result<Option<Vec<Turn>>> {
        let windows = self.lock();
        Ok(windows
            .get(&conversation)
            .filter(|window| window.expires_at > Instant::now() && !window.turns.is_empty())
            .map(|window| window.turns.iter().cloned().collect()))
    }

    async fn replace(&self, conversation: Uuid, turns: &[Turn]) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut windows = self.lock();
        if windows.len() > SWEEP_ABOVE {
            windows.retain(|_, window| window.expires_at > now);
        }
        let keep = &turns[turns.len().saturating_sub(self.policy.max_turns)..];
        if keep.is_empty() {
            windows.remove(&conversation);
        } else {
            windows.insert(
                conversation,
                CachedWindow { turns: keep.iter().cloned().collect(), expires_at: now + self.policy.ttl },
            );
        }
        Ok(())
    }

    async fn forget(&self, conversation: Uuid) -> anyhow::Result<()> {
        self.lock().remove(&conversation);
        Ok(())
    }

    async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn acquire_slot(&self, key: &str, max: u32, _ttl: Duration) -> anyhow::Result<bool> {
        // A holder in this process cannot outlive it, so slots here need no expiry.
        let mut slots = self.lock_slots();
        let taken = slots.entry(key.to_owned()).or_default();
        if *taken >= max {
            return Ok(false);
        }
        *taken += 1;
        Ok(true)
    }

    async fn release_slot(&self, key: &str) -> anyhow::Result<()> {
        let mut slots = self.lock_slots();
        if let Some(taken) = slots.get_mut(key) {
            *taken = taken.saturating_sub(1);
            if *taken == 0 {
                slots.remove(key);
            }
        }
        Ok(())
    }

    async fn add_to_counters(&self, counters: &[Counter]) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut values = self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if values.len() > SWEEP_ABOVE {
            values.retain(|_, (_, expires_at)| *expires_at > now);
        }
        for counter in counters {
            let entry = values.entry(counter.key.clone()).or_insert((0, now + counter.ttl));
            if entry.1 <= now {
                *entry = (0, now + counter.ttl);
            }
            entry.0 = entry.0.saturating_add(counter.amount);
        }
        Ok(())
    }

    async fn counters(&self, keys: &[String]) -> anyhow::Result<Vec<u64>> {
        let now = Instant::now();
        let values = self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(keys
            .iter()
            .map(|key| values.get(key).filter(|(_, expires_at)| *expires_at > now).map_or(0, |(value, _)| *value))
            .collect())
    }

    async fn persisted_query(&self, hash: &str) -> anyhow::Result<Option<String>> {
        Ok(self.lock_queries().get(hash).cloned())
    }

    async fn persist_query(&self, hash: &str, query: &str) -> anyhow::Result<()> {
        self.lock_queries().put(hash.to_owned(), query.to_owned());
        Ok(())
    }
}

fn query_capacity(policy: PersistedQueryPolicy) -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(policy.max_entries).unwrap_or(std::num::NonZeroUsize::MIN)
}
