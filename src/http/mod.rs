//! The HTTP surface: `/graphql` (POST queries, GET GraphiQL or WebSocket upgrade), `/healthz`,
//! `/readyz`. Authentication happens here, once per request or connection; resolvers only read
//! the resulting [`Caller`].

use std::str::FromStr as _;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{FromRequestParts as _, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::AppError;
use crate::graphql::{self, AppSchema};
use crate::services::account::auth::{self, Caller};
use crate::state::AppState;

#[derive(Clone)]
struct HttpState {
    schema: AppSchema,
    app: AppState,
}

pub fn router(schema: AppSchema, app: AppState) -> Router {
    let request_id = header::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/graphql") }))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/readyz", get(readyz))
        .with_state(HttpState { schema, app })
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

async fn graphql_post(State(state): State<HttpState>, headers: HeaderMap, request: GraphQLRequest) -> GraphQLResponse {
    let credential = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match identify(&state.app, credential).await {
        Ok(caller) => state.schema.execute(request.into_inner().data(caller)).await.into(),
        Err(error) => graphql::error_response(error).into(),
    }
}

/// GET serves GraphiQL to browsers and upgrades WebSocket clients (subscriptions).
async fn graphql_get(State(state): State<HttpState>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return Html(graphiql_page()).into_response();
    }
    let (mut parts, _body) = request.into_parts();
    let mut upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(protocol) = GraphQLProtocol::from_request_parts(&mut parts, &()).await else {
        return (
            StatusCode::BAD_REQUEST,
            "WebSocket clients must offer the graphql-transport-ws or graphql-ws subprotocol",
        )
            .into_response();
    };
    // Answer with the protocol that will actually be spoken: the client's first supported offer,
    // which is what `GraphQLProtocol` picked (axum's own choice would follow our list's order).
    if let Some(spoken) = client_first_protocol(&parts.headers) {
        upgrade.set_selected_protocol(HeaderValue::from_static(spoken));
    } else {
        upgrade = upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS);
    }
    let app = state.app.clone();
    upgrade.on_upgrade(move |socket| {
        GraphQLWebSocket::new(socket, state.schema, protocol)
            .on_connection_init(move |payload| async move {
                let credential = credential_from_init(&payload);
                let caller = identify(&app, credential.as_deref())
                    .await
                    .map_err(|error| async_graphql::Error::new(graphql::client_message(&error)))?;
                let mut data = Data::default();
                data.insert(caller);
                Ok(data)
            })
            .serve()
    })
}

fn client_first_protocol(headers: &HeaderMap) -> Option<&'static str> {
    headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        .map(|p| p.sec_websocket_protocol())
}

/// The credential in a `connection_init` payload: `authorization`/`Authorization` (a `Bearer`
/// value), `token` (the bare key), or Apollo's `headers` object.
fn credential_from_init(payload: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let from = |object: &serde_json::Value| {
        object
            .get("authorization")
            .or_else(|| object.get("Authorization"))
            .and_then(text)
            .or_else(|| object.get("token").and_then(text).map(|t| format!("Bearer {t}")))
    };
    from(payload).or_else(|| payload.get("headers").and_then(from))
}

async fn readyz(State(state): State<HttpState>) -> Response {
    let sql = state.app.db.ping().await.map_err(|e| format!("{e}"));
    let short_term = state.app.short_term.ping().await.map_err(|e| format!("{e:#}"));
    let status = |r: &Result<(), String>| if r.is_ok() { "ok" } else { "unavailable" };
    let body = json!({
        "status": if sql.is_ok() && short_term.is_ok() { "ok" } else { "unavailable" },
        "sql": status(&sql),
        "shortTermStore": { "kind": state.app.short_term.name(), "status": status(&short_term) },
    });
    if let Err(error) = &sql {
        tracing::warn!(error, "readiness: SQL is unreachable");
    }
    if let Err(error) = &short_term {
        tracing::warn!(error, "readiness: the short-term store is unreachable");
    }
    let code = if sql.is_ok() && short_term.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

fn graphiql_page() -> String {
    include_str!("graphiql.html").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_init_credentials_in_every_accepted_shape() {
        let cases = [
            json!({"authorization": "Bearer k"}),
            json!({"Authorization": "Bearer k"}),
            json!({"token": "k"}),
            json!({"headers": {"Authorization": "Bearer k"}}),
        ];
        for payload in cases {
            assert_eq!(credential_from_init(&payload).as_deref(), Some("Bearer k"), "{payload}");
        }
        assert_eq!(credential_from_init(&json!({})), None);
    }

    #[test]
    fn the_reply_names_the_clients_first_supported_protocol() {
        let mut headers = HeaderMap::new();
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("graphql-ws, graphql-transport-ws"));
        assert_eq!(client_first_protocol(&headers), Some("graphql-ws"));
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("soap, graphql-transport-ws"));
        assert_eq!(client_first_protocol(&headers), Some("graphql-transport-ws"));
    }
}
