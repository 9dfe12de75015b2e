//! The pages browsers get from the server itself: the chat page at `/`, GraphiQL at
//! `GET /graphql`, and their files under `/assets/`. Every byte is embedded in the binary at build
//! time (GraphiQL's pinned vendor files included, see `scripts/update-graphiql.sh`), so the pages
//! work with no internet, and their Content-Security-Policy tells the browser that nothing may be
//! loaded from, sent to or framed by anyone else.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};

/// The chat page: its own scripts and styles only; the API on this origin (HTTP and the
/// WebSocket, which `'self'` covers); model or user text can never become a script or a style.
const CHAT_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// GraphiQL: the same, except that its editor (CodeMirror) and Radix UI set inline `style`
/// attributes, and its stylesheet embeds its icons and fonts as `data:` URLs.
const GRAPHIQL_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

struct Asset {
    /// Path under `web/`, and under `/assets/` in URLs.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $content_type:expr),* $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// Every file under `web/` that is served (a test keeps this list and the folder in step).
static ASSETS: &[Asset] = assets![
    "index.html" => HTML,
    "graphiql.html" => HTML,
    "app.css" => CSS,
    "icon.svg" => "image/svg+xml",
    "js/app.js" => JS,
    "js/client.js" => JS,
    "js/dom.js" => JS,
    "js/knowledge.js" => JS,
    "js/markdown.js" => JS,
    "js/graphiql.js" => JS,
    "vendor/graphiql.min.css" => CSS,
    "vendor/graphiql.min.js" => JS,
    "vendor/react.production.min.js" => JS,
    "vendor/react-dom.production.min.js" => JS,
];

/// Each asset with its ETag (a hash of the bytes), computed once.
static BY_PATH: LazyLock<HashMap<&'static str, (&'static Asset, HeaderValue)>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            let digest = hex::encode(&Sha256::digest(asset.body)[..16]);
            let etag = HeaderValue::from_str(&format!("\"{digest}\"")).unwrap_or(HeaderValue::from_static("\"0\""));
            (asset.path, (asset, etag))
        })
        .collect()
});

/// `GET /` (the chat page) and `GET /assets/...`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers, Some(CHAT_POLICY)) }))
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move { serve(&path, &headers, None) }),
        )
}

/// GraphiQL's page, for `GET /graphql` without a WebSocket upgrade.
pub fn graphiql(headers: &HeaderMap) -> Response {
    serve("graphiql.html", headers, Some(GRAPHIQL_POLICY))
}

fn serve(path: &str, request: &HeaderMap, policy: Option<&'static str>) -> Response {
    let Some((asset, etag)) = BY_PATH.get(path) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    // Pages are HTML documents; only the page routes serve them, with their policy.
    if policy.is_none() && asset.content_type == HTML {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    }
    // `no-cache`: the browser keeps the file but asks each time, so a new build is seen at once
    // and an unchanged file costs a 304.
    let mut response = if request.get(header::IF_NONE_MATCH) == Some(etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Some(policy) = policy {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
        // For browsers that predate `frame-ancestors`.
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn web_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("web")
    }

    fn files_under(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(&path, found);
            } else {
                found.push(path.strip_prefix(web_dir()).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }

    #[test]
    fn every_page_file_in_web_is_served_and_every_served_file_exists() {
        let mut on_disk = Vec::new();
        files_under(&web_dir(), &mut on_disk);
        // Provenance records, not pages.
        on_disk.retain(|f| !matches!(f.rsplit('/').next(), Some("SHA256SUMS" | "VERSIONS")) && !f.contains("LICENSE"));
        on_disk.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        served.sort();
        assert_eq!(on_disk, served, "web/ and the ASSETS table in src/http/pages.rs differ");
    }

    #[test]
    fn the_embedded_vendor_files_are_the_pinned_ones() {
        let sums = std::fs::read_to_string(web_dir().join("vendor/SHA256SUMS")).unwrap();
        let mut checked = 0;
        for line in sums.lines().filter(|l| !l.trim().is_empty()) {
            let (expected, name) = line.split_once("  ").expect("sha256sum format");
            let (asset, _) =
                BY_PATH.get(format!("vendor/{name}").as_str()).unwrap_or_else(|| panic!("{name} is not served"));
            assert_eq!(hex::encode(Sha256::digest(asset.body)), expected, "vendor/{name} differs from SHA256SUMS");
            checked += 1;
        }
        let vendored = ASSETS.iter().filter(|a| a.path.starts_with("vendor/")).count();
        assert_eq!(checked, vendored, "every vendored file has a checksum");
    }

    #[test]
    fn content_types_follow_the_extension() {
        for asset in ASSETS {
            let expected = match asset.path.rsplit('.').next() {
                Some("js") => JS,
                Some("css") => CSS,
                Some("html") => HTML,
                Some("svg") => "image/svg+xml",
                other => panic!("unexpected extension {other:?}"),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
    }
}
