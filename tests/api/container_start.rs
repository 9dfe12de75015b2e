//! The container's start path (scripts/docker-entrypoint.sh, the Dockerfile's ENTRYPOINT) with the
//! real binary, against a data directory owned by root, as a Railway volume is mounted: the server
//! must take it over, run as the unprivileged user, serve, and stop cleanly on SIGTERM.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const UNPRIVILEGED: u32 = 10001;

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn the_entrypoint_takes_over_a_root_owned_volume_and_drops_privileges() {
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the container start test as root");
        eprintln!("not root: skipping the container start test");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    // The parent must be reachable by the unprivileged user, as / is in the container.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("left-by-root"), "x").unwrap();
    assert_eq!(std::fs::metadata(&data).unwrap().uid(), 0);

    let port = free_port();
    let entrypoint = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/docker-entrypoint.sh");
    let mut server = Command::new("sh")
        .arg(entrypoint)
        .arg(env!("CARGO_BIN_EXE_assistant"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("DATA_DIR", &data)
        .env("ADMIN_TOKEN", "container-test-admin-token")
        .env("EMBEDDING_PROVIDER", "fallback")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let client = reqwest::Client::new();
    let started = Instant::now();
    let ready = loop {
        match client.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
            Ok(response) if response.status().is_success() => break true,
            _ if started.elapsed() > Duration::from_secs(60) => break false,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    if !ready {
        let _ = server.kill();
        let output = server.wait_with_output().unwrap();
        panic!("the server did not become ready:\n{}", String::from_utf8_lossy(&output.stderr));
    }

    // The server runs as the unprivileged user and owns what it wrote.
    let owner = std::fs::metadata(format!("/proc/{}", server.id())).unwrap().uid();
    assert_eq!(owner, UNPRIVILEGED, "the server process (PID {}) runs as uid {owner}", server.id());
    assert_eq!(std::fs::metadata(&data).unwrap().uid(), UNPRIVILEGED);
    assert_eq!(std::fs::metadata(data.join("left-by-root")).unwrap().uid(), UNPRIVILEGED);
    let database = data.join("assistant.db");
    assert_eq!(std::fs::metadata(&database).unwrap().uid(), UNPRIVILEGED, "{}", database.display());

    // `exec` made the server the process we started, so SIGTERM reaches it and it exits 0.
    let killed = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
