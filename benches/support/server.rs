//! The release server as its own process for a bench, pointed at the fake Anthropic API, and
//! what a bench reads off it (CPU time, peak RSS).

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_anthropic::FakeAnthropic;

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";

pub struct Server {
    child: std::process::Child,
    pub port: u16,
    data: tempfile::TempDir,
}

impl Server {
    /// Starts the server (`BENCH_SERVER` names another build) with `vars` on top of the bench's
    /// own configuration, and waits until it answers.
    pub async fn start(anthropic: &FakeAnthropic, vars: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = tempfile::tempdir().unwrap();
        let binary = std::env::var("BENCH_SERVER").unwrap_or_else(|_| env!("CARGO_BIN_EXE_assistant").to_owned());
        let child = std::process::Command::new(binary)
            .env_clear()
            .env("PORT", port.to_string())
            .env("DATA_DIR", data.path())
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ANTHROPIC_BASE_URL", &anthropic.base_url)
            .env("ANTHROPIC_API_KEY", "sk-ant-bench")
            .env("EMBEDDING_DOWNLOAD", "false")
            .env("RUST_LOG", "error")
            .envs(std::env::var("DATABASE_URL").ok().map(|url| ("DATABASE_URL", url)))
            .envs(std::env::var("REDIS_URL").ok().map(|url| ("REDIS_URL", url)))
            .envs(std::env::var("EMBEDDING_MODEL_DIR").ok().map(|dir| ("EMBEDDING_MODEL_DIR", dir)))
            .envs(vars.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server");
        let server = Self { child, port, data };
        let client = reqwest::Client::new();
        for _ in 0..400 {
            let ready = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not start");
    }

    /// The server's `DATA_DIR` (its SQLite file, `assistant.db`, unless `DATABASE_URL` is set).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// CPU time the server process has used (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// Peak resident memory of the server process, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        peak_rss_mib(self.child.id())
    }
}

/// CPU time process `pid` has used (user + system), in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident memory of process `pid`, in MiB.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GraphQL request that must succeed; its `data`.
pub async fn gql(client: &reqwest::Client, port: u16, key: &str, query: &str, variables: Value) -> Value {
    let response: Value = client
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(response.get("errors").is_none(), "{response}");
    response["data"].clone()
}

/// `n` users, each with one conversation: (API key, conversation id).
pub async fn users(port: u16, n: usize, name: &str) -> Vec<(String, String)> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for i in 0..n {
        let created = gql(
            &client,
            port,
            ADMIN_TOKEN,
            "mutation($n: String!) { createUser(input: {displayName: $n}) { apiKey } }",
            json!({ "n": format!("{name} {i}") }),
        )
        .await;
        let key = created["createUser"]["apiKey"].as_str().unwrap().to_owned();
        let conversation = gql(&client, port, &key, "mutation { createConversation { id } }", json!({})).await;
        out.push((key, conversation["createConversation"]["id"].as_str().unwrap().to_owned()));
    }
    out
}

/// When each Messages request reached the fake, by its last message (a bench names every turn's
/// message, so this tells when that turn's request arrived).
pub fn arrivals(fake: &FakeAnthropic) -> HashMap<String, Instant> {
    fake.stream_requests()
        .into_iter()
        .filter_map(|r| r.messages().last().map(|(_, content)| (content.clone(), r.at)))
        .collect()
}

/// The `p` quantile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
