use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use assistant::{AppState, Application, Config};
use sea_orm::{ConnectionTrait as _, Database};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fake_anthropic::FakeAnthropic;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    /// The fake Anthropic API this app talks to.
    pub anthropic: FakeAnthropic,
    pub port: u16,
    pub state: AppState,
    pub backend: Backend,
    client: reqwest::Client,
    data_dir: std::sync::Arc<tempfile::TempDir>,
    /// The configuration it was started with (for restarts and replicas).
    vars: HashMap<&'static str, String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Runs each named `async fn name(app: TestApp)` as `name::sqlite` and `name::postgres`;
/// `with [("VAR", "value"), ...]` first sets configuration for those tests.
#[macro_export]
macro_rules! on_both_backends {
    (with $config:tt $($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn_with($crate::helpers::Backend::Sqlite, &$config).await;
                super::$name(app.unwrap()).await
            }

            #[tokio::test]
            async fn postgres() {
                let app = $crate::helpers::TestApp::spawn_with($crate::helpers::Backend::Postgres, &$config).await;
                if let Some(app) = app {
                    super::$name(app).await
                }
            }
        })*
    };
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(with [] $($name),*);
    };
}

/// A test resource named by an environment variable. Outside CI its absence skips what needs it
/// (saying so); under CI it is a failure, so nothing is skipped silently there.
fn required_env(variable: &str, what: &str, hint: &str) -> Option<String> {
    match std::env::var(variable).ok().filter(|v| !v.is_empty()) {
        Some(value) => Some(value),
        None if std::env::var_os("CI").is_some() => panic!("CI must run {what}: set {variable}{hint}"),
        None => {
            eprintln!("{variable} is not set: skipping {what}");
            None
        }
    }
}

pub fn postgres_url() -> Option<String> {
    required_env("TEST_DATABASE_URL", "the PostgreSQL run of this test", " (and TEST_REDIS_URL)")
}

pub fn redis_url() -> Option<String> {
    required_env("TEST_REDIS_URL", "the Redis tests", "")
}

/// The directory of the real all-MiniLM-L6-v2.
pub fn model_dir() -> Option<String> {
    required_env(
        "TEST_EMBEDDING_MODEL_DIR",
        "the tests that need the embedding model",
        " (scripts/fetch-model.sh installs it)",
    )
}

/// A fresh, empty PostgreSQL database; returns its URL.
pub async fn fresh_postgres_database(admin_url: &str) -> String {
    let name = format!("assistant_test_{}", Uuid::new_v4().simple());
    let admin = Database::connect(admin_url).await.expect("connect to TEST_DATABASE_URL");
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.expect("create test database");
    admin.close().await.ok();
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let base = base.rsplit_once('/').map(|(server, _db)| server).unwrap_or(base);
    format!("{base}/{name}{query}")
}

impl TestApp {
    /// Starts the server on port 0; `None` when the backend is not available here.
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, &[]).await
    }

    /// Like [`spawn`](Self::spawn), with configuration on top of the test defaults (an empty
    /// value unsets a variable).
    pub async fn spawn_with(backend: Backend, overrides: &[(&'static str, &str)]) -> Option<Self> {
        if std::env::var_os("TEST_LOG").is_some() {
            assistant::telemetry::init(assistant::config::LogFormat::Text);
        }
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut vars: HashMap<&'static str, String> = HashMap::from([
            ("PORT", "0".to_string()),
            ("DATA_DIR", data_dir.path().display().to_string()),
            ("ADMIN_TOKEN", ADMIN_TOKEN.to_string()),
            ("REDIS_KEY_PREFIX", format!("test:{}:", Uuid::new_v4().simple())),
        ]);
        let anthropic = FakeAnthropic::start().await;
        vars.insert("ANTHROPIC_BASE_URL", anthropic.base_url.clone());
        vars.insert("ANTHROPIC_API_KEY", "sk-ant-test-key".into());
        // Most tests need no model; the embedding tests ask for the real one.
        vars.insert("EMBEDDING_PROVIDER", "fallback".into());
        // Tests never install the model from the network (`model_install` uses a local index).
        vars.insert("EMBEDDING_DOWNLOAD", "false".into());
        if backend == Backend::Postgres {
            let admin_url = postgres_url()?;
            vars.insert("DATABASE_URL", fresh_postgres_database(&admin_url).await);
            if let Some(redis) = redis_url() {
                vars.insert("REDIS_URL", redis);
            }
        }
        for (name, value) in overrides {
            vars.insert(name, value.to_string());
        }
        if backend == Backend::Sqlite && !vars.contains_key("DATABASE_URL") {
            // Named explicitly so replicas and restarts share it.
            let file = data_dir.path().join("assistant.db");
            vars.insert("DATABASE_URL", format!("sqlite://{}?mode=rwc", file.display()));
        }
        Some(Self::start(backend, vars, anthropic, std::sync::Arc::new(data_dir)).await)
    }

    async fn start(
        backend: Backend,
        vars: HashMap<&'static str, String>,
        anthropic: FakeAnthropic,
        data_dir: std::sync::Arc<tempfile::TempDir>,
    ) -> Self {
        let config =
            Config::from_lookup(|name| vars.get(name).cloned().filter(|v| !v.is_empty())).expect("test config");
        let app = Application::build(config).await.expect("build app");
        let port = app.port();
        let state = app.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            address: format!("http://127.0.0.1:{port}"),
            anthropic,
            port,
            state,
            backend,
            client: reqwest::Client::new(),
            data_dir,
            vars,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server gracefully (as SIGTERM does) and starts it again on the same database
    /// and `DATA_DIR`, with `overrides` on top.
    pub async fn restart(mut self, overrides: &[(&'static str, &str)]) -> Self {
        self.stop_server().await;
        let mut vars = self.vars.clone();
        for (name, value) in overrides {
            vars.insert(name, value.to_string());
        }
        Self::start(self.backend, vars, self.anthropic.clone(), self.data_dir.clone()).await
    }

    /// Stops the server gracefully and waits until it has finished.
    pub async fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    /// A second server on the same database (and Redis) with its own `DATA_DIR`, as another
    /// replica behind the same URL would be.
    pub async fn replica(&self) -> Self {
        let mut vars = self.vars.clone();
        let data_dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        vars.insert("DATA_DIR", data_dir.path().display().to_string());
        Self::start(self.backend, vars, self.anthropic.clone(), data_dir).await
    }

    /// The `DATABASE_URL` this app was started with.
    pub fn database_url(&self) -> &str {
        &self.vars["DATABASE_URL"]
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a GraphQL request with `Authorization: Bearer <key>` when a key is given; returns
    /// the whole JSON response (`data` and `errors`).
    pub async fn gql(&self, key: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("send GraphQL request");
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.expect("GraphQL response is JSON")
    }

    /// Like [`gql`], but fails the test on any error and returns `data`.
    pub async fn data(&self, key: &str, query: &str, variables: Value) -> Value {
        let response = self.gql(Some(key), query, variables).await;
        assert!(response.get("errors").is_none(), "unexpected errors: {response:#}");
        response["data"].clone()
    }

    /// Creates a user through the API with the admin token; returns (user id, API key).
    /// The assistant message stored last (SQL returns rows in no set order unless asked).
    pub async fn last_answer(&self) -> entity::message::Model {
        use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};
        entity::prelude::Message::find()
            .filter(entity::message::Column::Role.eq(entity::enums::MessageRole::Assistant))
            .order_by_desc(entity::message::Column::CreatedAt)
            .order_by_desc(entity::message::Column::Id)
            .one(&self.state.db)
            .await
            .unwrap()
            .expect("an answer is stored")
    }

    pub async fn create_user(&self, name: &str) -> (String, String) {
        let data = self
            .data(
                ADMIN_TOKEN,
                "mutation($name: String!) { createUser(input: {displayName: $name}) { user { id displayName } apiKey } }",
                json!({ "name": name }),
            )
            .await;
        let payload = &data["createUser"];
        assert_eq!(payload["user"]["displayName"], name);
        (payload["user"]["id"].as_str().unwrap().to_owned(), payload["apiKey"].as_str().unwrap().to_owned())
    }
}

/// The `extensions.code` of the first error of a response (panics if there is none).
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code, got {response:#}"))
}

pub fn error_message(response: &Value) -> &str {
    response["errors"][0]["message"].as_str().unwrap_or_default()
}

/// How long a test waits for what happens off the hot path (learning, summaries, a slot given
/// back) before it fails. Generous: it bounds a wait, it is not a speed target.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Runs `probe` until `done` holds for what it returns, and returns that. Fails the test loudly,
/// naming `what` it waited for and the last thing it saw, when that takes longer than
/// [`PATIENCE`].
pub async fn eventually<T: Debug, F: Future<Output = T>>(
    what: &str,
    mut probe: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = probe().await;
        if done(&seen) {
            return seen;
        }
        if Instant::now() >= deadline {
            panic!("waited {PATIENCE:?} for {what}, in vain; last seen: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until learning has counted `n` messages of the caller (learning from a message ends
/// with counting it, so everything that message teaches is stored by then).
pub async fn learned_from(app: &TestApp, key: &str, n: usize) {
    let expected = if n == 1 { "1 message".to_string() } else { format!("{n} messages") };
    eventually(
        &format!("learning to count {expected}"),
        || app.data(key, "{ learnedPatterns { key value } }", json!({})),
        |data| {
            data["learnedPatterns"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["key"] == "message_count" && p["value"] == expected.as_str())
        },
    )
    .await;
}
