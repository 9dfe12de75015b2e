//! The composition root: [`Application::build`] turns a [`Config`] into a server bound to its
//! port (tests bind port 0) with every part it needs, and runs it until it is told to stop.
//! Nothing below this module knows how the parts are put together.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use rand::RngCore as _;

use crate::config::{Config, Secret, TransportConfig};
use crate::services::account::usage::ClaudeMeter;
use crate::services::chat;
use crate::state::{AppState, Lifecycle};
use crate::store::pubsub::EventBus;
use crate::store::search_index::MemoryIndex;
use crate::store::{InProcessStore, PersistedQueryPolicy, RedisStore, ShortTermStore, WindowPolicy};
use crate::{db, embed, graphql, http, llm};

/// How often changed index shards are saved to `DATA_DIR/index` (and once more at shutdown).
const INDEX_SAVE_INTERVAL: Duration = Duration::from_secs(30);

pub struct Application {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    state: AppState,
}

impl Application {
    /// Connects to SQL (migrating it) and the short-term store, and binds the port.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // The metrics recorder is in place before anything records.
        crate::telemetry::metrics();
        let db = db::connect_and_migrate(&config).await?;
        match chat::recover_abandoned_answers(&db).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(answers = n, "marked answers abandoned mid-stream by a stopped process as interrupted")
            }
            Err(error) => tracing::warn!(error = format!("{error:#}"), "could not check for abandoned answers"),
        }
        let window = WindowPolicy { max_turns: config.chat.window_turns, ..Default::default() };
        let persisted_queries = PersistedQueryPolicy {
            ttl: config.transport.persisted_queries_ttl,
            max_entries: config.transport.persisted_queries_max_entries,
        };
        let short_term: Arc<dyn ShortTermStore> = match &config.redis_url {
            Some(url) => Arc::new(
                RedisStore::connect(url, &config.redis_key_prefix, window)
                    .await
                    .context("REDIS_URL is set but Redis cannot be used")?
                    .with_persisted_queries(persisted_queries),
            ),
            None => Arc::new(InProcessStore::new(window).with_persisted_queries(persisted_queries)),
        };
        let admin_token = match &config.admin_token {
            Some(token) => token.clone(),
            None => admin_token_from_file(&config)?,
        };
        if config.anthropic.api_key.is_none() {
            tracing::warn!(
                "ANTHROPIC_API_KEY is not set: everything works but chat answers, which fail with a clear message"
            );
        }
        let retry = llm::RetryPolicy { max_retries: config.anthropic.max_retries, ..Default::default() };
        let meter = ClaudeMeter::new(db.clone(), short_term.clone(), config.limits.claude.clone());
        let llm = llm::AnthropicClient::new(&config.anthropic, retry)
            .context("could not set up the HTTP client")?
            .with_meter(Arc::new(meter));
        let embedder =
            embed::from_config(&config.embedding).await.context("could not set up the embedder (EMBEDDING_*)")?;
        let address = SocketAddr::new(config.host, config.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address} (is PORT in use?)"))?;

        let memory_index =
            Arc::new(MemoryIndex::new(config.data_dir.join("index"), embedder.as_ref(), config.memory_index_max_users));
        // Index files hold memory text: none may outlive its user.
        match memory_index.sweep_orphans(&db).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed the index files of users that no longer exist"),
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "could not sweep the index files of deleted users")
            }
        }
        let memory_events = Arc::new(match &config.redis_url {
            Some(url) => EventBus::with_redis(url, format!("{}memory-events", config.redis_key_prefix))
                .await
                .context("REDIS_URL is set but Redis cannot be used for events")?,
            None => EventBus::in_process(),
        });
        let access_events = Arc::new(match &config.redis_url {
            Some(url) => EventBus::with_redis(url, format!("{}access-events", config.redis_key_prefix))
                .await
                .context("REDIS_URL is set but Redis cannot be used for events")?,
            None => EventBus::in_process(),
        });
        let state = AppState {
            db,
            short_term,
            config: Arc::new(config),
            admin_token,
            llm,
            embedder,
            memory_index,
            memory_events,
            access_events,
            learning_locks: Arc::default(),
            lifecycle: Lifecycle::default(),
        };
        let schema = graphql::build_schema(Some(state.clone()));
        let router = http::router(schema, state.clone());
        Ok(Self { listener, router, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until ctrl-c or SIGTERM, then lets requests in flight finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then drains: `/readyz` answers 503 and no new answer
    /// starts, while the answers in flight get `SHUTDOWN_GRACE_SECONDS` to finish; those still
    /// running then are ended (retryable, partial kept). Then the listener closes, requests in
    /// flight finish, and the index shards are saved.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let address = self.listener.local_addr()?;
        tracing::info!(
            %address,
            database = if self.state.config.is_sqlite() { "sqlite" } else { "postgres" },
            short_term_store = self.state.short_term.name(),
            "serving GraphQL at http://{address}/graphql"
        );
        let index = self.state.memory_index.clone();
        let saver = tokio::spawn(async move {
            let mut every = tokio::time::interval(INDEX_SAVE_INTERVAL);
            every.tick().await;
            loop {
                every.tick().await;
                index.save_changed().await;
            }
        });
        let drained = drain(self.state.lifecycle.clone(), self.state.config.shutdown_grace, shutdown);
        let served = serve(self.listener, self.router, &self.state.config.transport, drained).await;
        saver.abort();
        let saved = self.state.memory_index.save_changed().await;
        tracing::info!(shards = saved, "saved the memory index");
        served
    }
}

/// Serves HTTP/1.1 connections (WebSocket upgrades included) until `shutdown` completes, then
/// lets the connections finish what they are doing. hyper directly rather than `axum::serve`,
/// for the header read timeout; a connection over `HTTP_MAX_CONNECTIONS` is answered 503 and
/// closed at once, so a flood waits in no queue of ours.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: &TransportConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.http_header_timeout);
    let places = Arc::new(tokio::sync::Semaphore::new(limits.http_max_connections));
    let stopping = tokio_util::sync::CancellationToken::new();
    let connections = tokio_util::task::TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: pass, rather than spin.
                Err(error) => {
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Streamed answers are many small writes: without TCP_NODELAY, Nagle's algorithm and
        // delayed ACKs hold pieces back for up to ~40 ms.
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let Ok(permit) = places.clone().try_acquire_owned() else {
            connections.spawn(refuse_connection(tcp));
            continue;
        };
        let permit = http::ConnectionPermit::new(permit);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(permit.clone());
            router.clone().oneshot(request)
        });
        let connection = builder.serve_connection(TokioIo::new(tcp), service).with_upgrades();
        let stopping = stopping.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = stopping.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = served {
                if error.is_timeout() {
                    http::refused("header_timeout");
                }
                tracing::debug!(%error, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Answers a connection over `HTTP_MAX_CONNECTIONS`: 503 with a GraphQL-shaped error, then close.
async fn refuse_connection(mut tcp: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    http::refused("connection_limit");
    let body = r#"{"errors":[{"message":"the server is at its connection limit; try again shortly","extensions":{"code":"UNAVAILABLE"}}]}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        // The request's head first: HTTP clients take an answer before their request as an error.
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 << 10 {
            match tcp.read(&mut buffer).await {
                Ok(n) if n > 0 => head.extend_from_slice(&buffer[..n]),
                _ => return,
            }
        }
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
        // Read what the client sent until it closes: closing with its request unread would
        // reset the connection before the client reads the answer.
        while matches!(tcp.read(&mut buffer).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Waits for `shutdown`, then drains the answers in flight (see [`Application::run_until`]).
async fn drain(lifecycle: Lifecycle, grace: Duration, shutdown: impl Future<Output = ()>) {
    shutdown.await;
    lifecycle.start_draining();
    tracing::info!(
        answers = lifecycle.turns.len(),
        grace_seconds = grace.as_secs(),
        "draining: /readyz is 503, no new answers; letting the answers in flight finish"
    );
    if tokio::time::timeout(grace, lifecycle.turns.wait()).await.is_err() {
        tracing::warn!(
            answers = lifecycle.turns.len(),
            "grace period over: ending the answers still streaming (retryable, partial answers kept)"
        );
        lifecycle.ending.cancel();
        lifecycle.turns.wait().await;
    }
    // The last events of the answers are on their way to the sockets.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Then the sockets and event streams say goodbye, rather than drop when the process exits.
    lifecycle.closing.cancel();
    lifecycle.sockets.close();
    if tokio::time::timeout(SOCKET_CLOSE_WAIT, lifecycle.sockets.wait()).await.is_err() {
        tracing::info!(sockets = lifecycle.sockets.len(), "sockets still closing at exit");
    }
}

/// How long the close handshakes of the open WebSockets may take at shutdown.
const SOCKET_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Without `ADMIN_TOKEN`, a newcomer still needs a way to create the first user: a random token
/// kept in `DATA_DIR/admin-token`, readable only by its owner, made on the first start and used
/// again on the next ones. Never a fixed default, and never in the log (logs end up in the
/// platform's log store): the log names the file.
fn admin_token_from_file(config: &Config) -> anyhow::Result<Secret> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;

    let path = config.data_dir.join("admin-token");
    let existing = std::fs::read_to_string(&path).ok().map(|t| t.trim().to_owned()).filter(|t| t.len() >= 16);
    let token = match existing {
        Some(token) => token,
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("could not create DATA_DIR {}", config.data_dir.display()))?;
            let mut bytes = [0u8; 24];
            rand::rng().fill_bytes(&mut bytes);
            let token = format!("adm_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("could not write {}", path.display()))?;
            file.write_all(token.as_bytes()).with_context(|| format!("could not write {}", path.display()))?;
            token
        }
    };
    let host = if config.host.is_unspecified() { "localhost".to_string() } else { config.host.to_string() };
    tracing::warn!(file = %path.display(), "ADMIN_TOKEN is not set: the admin token is in this file (owner-only)");
    eprintln!(
        "\nADMIN_TOKEN is not set, so the admin token is kept in {file} (readable only by you).\n\n\
         Create a user (the reply holds their API key):\n\n    \
         curl -s http://{host}:{port}/graphql -H \"Authorization: Bearer $(cat {file})\" \\\n      \
         -H 'Content-Type: application/json' \\\n      \
         -d '{{\"query\":\"mutation {{ createUser(input: {{displayName: \\\"Ada\\\"}}) {{ user {{ id }} apiKey }} }}\"}}'\n",
        file = path.display(),
        port = config.port,
    );
    Ok(Secret::new(token))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
