//! The HTTP surface: `/graphql` in every transport GraphQL clients speak — GraphQL over HTTP
//! (`graphql_http`), GraphQL over WebSocket (`websocket`: graphql-transport-ws and the legacy
//! graphql-ws) and GraphQL over Server-Sent Events (`sse`) — plus GraphiQL, `/healthz` and
//! `/readyz`. Authentication happens here, once per request or connection; resolvers only read
//! the resulting [`Caller`]. The chat page and GraphiQL (`pages`), `/metrics`.

mod graphql_http;
mod pages;
mod sse;
mod websocket;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use tower_http::cors::{Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::{self, AppError};
use crate::graphql::AppSchema;
use crate::services::account::auth::{self, Caller};
use crate::state::AppState;

#[derive(Clone)]
struct HttpState {
    schema: AppSchema,
    app: AppState,
    user_operations: Arc<websocket::UserOperations>,
}

/// A connection's place under `HTTP_MAX_CONNECTIONS`, in each of its requests' extensions: a
/// WebSocket takes it along when it leaves its HTTP connection behind.
#[derive(Clone)]
pub struct ConnectionPermit {
    _place: Arc<OwnedSemaphorePermit>,
}

impl ConnectionPermit {
    pub fn new(permit: OwnedSemaphorePermit) -> Self {
        Self { _place: Arc::new(permit) }
    }
}

/// Counts a request or connection refused by a limit, and logs it once: the reason only,
/// never what the client sent.
pub fn refused(reason: &'static str) {
    metrics::counter!("http_requests_refused_total", "reason" => reason).increment(1);
    tracing::warn!(reason, "refused a request at a limit");
}

pub fn router(schema: AppSchema, app: AppState) -> Router {
    let request_id = header::HeaderName::from_static("x-request-id");
    let limits = app.config.transport.clone();
    Router::new()
        .merge(pages::routes())
        .route("/graphql", get(graphql_get).post(graphql_http::post))
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(HttpState { schema, app, user_operations: Arc::default() })
        .layer(axum::middleware::from_fn(count_requests))
        // The one body limit is the layer's (axum's own default would be a second, hidden one).
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.http_max_body_bytes))
        // Only until the response starts: subscriptions (SSE bodies, WebSockets) stream on.
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.http_request_timeout))
        .layer(axum::middleware::map_response_with_state(limits.http_max_body_bytes, refusals))
        // Keys travel in the Authorization header, not cookies, so any origin may call the API.
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(Duration::from_secs(3600)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        // The default span records method, URI and version, never headers: keys stay out of logs.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// Finds who sent a request from an `Authorization` value (if any): `Bearer <token>`, the
/// scheme in any case.
async fn identify(app: &AppState, authorization: Option<&str>) -> Result<Caller, AppError> {
    let Some(authorization) = authorization else { return Ok(Caller::Anonymous) };
    match authorization.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            auth::identify(&app.db, &app.admin_token, token.trim()).await
        }
        _ => Ok(Caller::InvalidKey),
    }
}

/// GET serves GraphiQL to browsers, upgrades WebSocket clients (subscriptions), streams
/// subscriptions to `Accept: text/event-stream`, and runs queries sent as URL parameters.
async fn graphql_get(State(state): State<HttpState>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if is_upgrade {
        if state.app.lifecycle.is_draining() {
            return (StatusCode::SERVICE_UNAVAILABLE, "the server is restarting; connect again").into_response();
        }
        return websocket::upgrade(state, request).await;
    }
    match graphql_http::Accept::of(request.headers(), true) {
        graphql_http::Accept::Html => pages::graphiql(request.headers()),
        accept => graphql_http::get(state, accept, request).await,
    }
}

async fn readyz(State(state): State<HttpState>) -> Response {
    if state.app.lifecycle.is_draining() {
        // Shutting down: send new work elsewhere while the answers in flight finish.
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "draining" }))).into_response();
    }
    let sql = state.app.db.ping().await.map_err(|e| format!("{e}"));
    let short_term = state.app.short_term.ping().await.map_err(|e| format!("{e:#}"));
    let status = |r: &Result<(), String>| if r.is_ok() { "ok" } else { "unavailable" };
    // Without the short-term store the replica still serves (windows from SQL, limits counted
    // in-process): degraded, and kept in rotation. Without SQL, the source of truth, it cannot.
    let overall = match (&sql, &short_term) {
        (Ok(()), Ok(())) => "ok",
        (Ok(()), Err(_)) => "degraded",
        (Err(_), _) => "unavailable",
    };
    let body = json!({
        "status": overall,
        "sql": status(&sql),
        "shortTermStore": { "kind": state.app.short_term.name(), "status": status(&short_term) },
    });
    if let Err(error) = &sql {
        tracing::warn!(error, "readiness: SQL is unreachable");
    }
    if let Err(error) = &short_term {
        tracing::warn!(error, "readiness: the short-term store is unreachable");
    }
    let code = if sql.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

/// Gives the limits' own refusals (413 from the body limit, 408 from the timeout, both with
/// empty or plain bodies) a GraphQL-shaped JSON body with `extensions.code`, and counts them.
async fn refusals(State(max_body_bytes): State<usize>, response: Response) -> Response {
    let (reason, code, message) = match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            error::code::BAD_USER_INPUT,
            format!("the request body is larger than the limit of {max_body_bytes} bytes"),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            error::code::UNAVAILABLE,
            "the request took too long (sending it, or answering it) and was stopped; try again".to_owned(),
        ),
        _ => return response,
    };
    refused(reason);
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (response.status(), Json(body)).into_response()
}

/// Counts requests by route and status, and times them (a WebSocket's time is its upgrade).
async fn count_requests(request: Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "route" => route).record(started.elapsed());
    response
}

/// Prometheus metrics; with `METRICS_TOKEN` set, only for `Authorization: Bearer <it>`.
async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.app.config.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let matches = given
            .is_some_and(|given| subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.expose().as_bytes()).into());
        if !matches {
            return (StatusCode::UNAUTHORIZED, "metrics need Authorization: Bearer <METRICS_TOKEN>").into_response();
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::telemetry::metrics().render()).into_response()
}
