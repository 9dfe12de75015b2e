//! Clients only Node has (the GraphQL over HTTP audit, the `graphql-sse` client), from
//! `tests/node` (`npm ci` there installs them; `.ci/run` does). Outside CI their absence skips
//! what needs them, saying so; under CI it is a failure.

use std::path::PathBuf;

use serde_json::Value;

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("node")
}

/// Whether the Node clients are installed (panics under CI when they are not).
pub fn available() -> bool {
    let installed = ["graphql-http", "graphql-sse"].iter().all(|p| folder().join("node_modules").join(p).is_dir());
    let node = std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    match (installed && node, std::env::var_os("CI").is_some()) {
        (true, _) => true,
        (false, true) => panic!("CI must run the Node clients: install Node and run `npm ci` in tests/node"),
        (false, false) => {
            eprintln!("Node or tests/node/node_modules is missing (`npm ci` in tests/node): skipping this test");
            false
        }
    }
}

/// Runs `script` of `tests/node` with `args`; returns what it printed, as JSON.
pub async fn run(script: &'static str, args: Vec<String>) -> Value {
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg(script).args(args).current_dir(folder()).output()
    })
    .await
    .expect("node task")
    .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node {script} failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("node {script} printed no JSON ({e}): {stdout}"))
}
