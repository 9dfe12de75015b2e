//! GraphQL over HTTP, as the GraphQL over HTTP working group's spec says, for both media types:
//! the response's type follows the client's `Accept` (`application/json` for `*/*`, no `Accept`
//! or a plain JSON client; `application/graphql-response+json` when the client prefers it), and
//! so does the status of a request error (one that stops before execution: a malformed request,
//! a document that does not parse or validate, variables that do not coerce). Under
//! `application/json` such an error answers 200, as older clients expect; under
//! `application/graphql-response+json` it answers 400 (500 for our own failure) and carries no
//! `data` entry. GET runs queries only: a mutation over GET is 405 with `Allow: POST`.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::Bytes;
use axum::extract::{FromRequest as _, Query, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{HttpState, identify, sse};
use crate::error::{AppError, code};
use crate::graphql::{self, persisted_queries};

/// What a client may be sent, in the order of its preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Accept {
    /// `application/json`: the media type every GraphQL client understands.
    Json,
    /// `application/graphql-response+json`: the spec's own type, with meaningful status codes.
    GraphqlResponse,
    /// `text/event-stream`: GraphQL over SSE.
    EventStream,
    /// `text/html`: a browser, which gets GraphiQL (GET only).
    Html,
    /// Nothing we can answer with.
    Unsupported,
}

impl Accept {
    /// The client's preferred media type among those served here: the highest `q`, the first
    /// listed among equals. No `Accept`, `*/*` and `application/*` mean JSON. `html` says whether
    /// a page is on offer (it is for GET).
    pub(super) fn of(headers: &HeaderMap, html: bool) -> Self {
        let Some(value) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty())
        else {
            return Self::Json;
        };
        let mut best: Option<(f32, Self)> = None;
        for range in value.split(',') {
            let Ok(range) = range.trim().parse::<mime::Mime>() else { continue };
            let q = range.get_param("q").and_then(|q| q.as_str().parse::<f32>().ok()).unwrap_or(1.0);
            let kind = match range.essence_str() {
                "application/graphql-response+json" => Self::GraphqlResponse,
                "application/json" | "application/*" | "*/*" => Self::Json,
                "text/event-stream" => Self::EventStream,
                "text/html" if html => Self::Html,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(best_q, _)| q > best_q) {
                best = Some((q, kind));
            }
        }
        best.map_or(Self::Unsupported, |(_, kind)| kind)
    }

    /// The media type of a JSON answer (a refusal, for an event stream): the spec's own type only
    /// to clients that prefer it.
    fn media(self) -> Option<Media> {
        match self {
            Self::GraphqlResponse => Some(Media::GraphqlResponse),
            Self::Json | Self::EventStream | Self::Html => Some(Media::Json),
            Self::Unsupported => None,
        }
    }
}

/// The media type of a JSON answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Media {
    Json,
    GraphqlResponse,
}

impl Media {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Json => "application/json; charset=utf-8",
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        })
    }
}

/// `POST /graphql`: a JSON body (`query`, `operationName`, `variables`, `extensions`); answered
/// as JSON, or as an event stream when the client accepts only that (GraphQL over SSE).
pub(super) async fn post(axum::extract::State(state): axum::extract::State<HttpState>, request: Request) -> Response {
    let accept = Accept::of(request.headers(), false);
    let Some(media) = accept.media() else { return not_acceptable() };
    if let Err(problem) = json_content_type(request.headers()) {
        return reject(media, StatusCode::UNSUPPORTED_MEDIA_TYPE, problem);
    }
    let credential = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(rejection) => return reject(media, rejection.status(), rejection.body_text()),
    };
    let graphql_request = match request_from_body(&body) {
        Ok(graphql_request) => graphql_request,
        Err(problem) => return reject(media, StatusCode::BAD_REQUEST, problem),
    };
    let caller = match identify(&state.app, credential.as_deref()).await {
        Ok(caller) => caller,
        Err(error) => return render(media, graphql::error_response(error)),
    };
    let graphql_request = graphql_request.data(caller);
    if accept == Accept::EventStream {
        return sse::stream(&state, graphql_request, caller);
    }
    render(media, state.schema.execute(graphql_request).await)
}

/// `GET /graphql?query=…&operationName=…&variables=<JSON>&extensions=<JSON>`: queries only.
pub(super) async fn get(state: HttpState, accept: Accept, request: Request) -> Response {
    let Some(media) = accept.media() else { return not_acceptable() };
    let params = match Query::<GetParams>::try_from_uri(request.uri()) {
        Ok(Query(params)) => params,
        Err(rejection) => return reject(media, StatusCode::BAD_REQUEST, rejection.body_text()),
    };
    let graphql_request = match params.into_request() {
        Ok(graphql_request) => graphql_request,
        Err(problem) => return reject(media, StatusCode::BAD_REQUEST, problem),
    };
    let credential = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let caller = match identify(&state.app, credential).await {
        Ok(caller) => caller,
        Err(error) => return render(media, graphql::error_response(error)),
    };
    // A persisted query is resolved here rather than in the schema, so a mutation sent by its
    // hash alone is refused too.
    let mut graphql_request = match persisted_queries::resolve(&state.app, graphql_request).await {
        Ok(graphql_request) => graphql_request,
        Err(error) => return render(media, graphql::error_response(error)),
    };
    if is_mutation(&mut graphql_request) {
        let mut response = reject(media, StatusCode::METHOD_NOT_ALLOWED, "mutations must be sent with POST".into());
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let graphql_request = graphql_request.data(caller);
    if accept == Accept::EventStream {
        return sse::stream(&state, graphql_request, caller);
    }
    render(media, state.schema.execute(graphql_request).await)
}

/// The body must be JSON in UTF-8 (the default when no charset is named).
fn json_content_type(headers: &HeaderMap) -> Result<(), String> {
    let wanted = "send the request as JSON: `Content-Type: application/json`";
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Err(wanted.into()) };
    let media = value.to_str().ok().and_then(|v| v.parse::<mime::Mime>().ok()).ok_or_else(|| wanted.to_owned())?;
    if media.essence_str() != "application/json" {
        return Err(wanted.into());
    }
    match media.get_param(mime::CHARSET) {
        Some(charset) if charset != mime::UTF_8 => Err("the request body must be UTF-8".into()),
        _ => Ok(()),
    }
}

/// A POST body as a GraphQL request, each parameter checked for its type.
fn request_from_body(body: &[u8]) -> Result<async_graphql::Request, String> {
    if body.is_empty() {
        return Err("the request has no body: send {\"query\": \"...\"} as JSON".into());
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| format!("the body is not valid JSON: {error}"))?;
    let Value::Object(params) = value else {
        return Err("the body must be a JSON object: {\"query\": \"...\"}".into());
    };
    request_from_params(
        params.get("query").cloned().unwrap_or(Value::Null),
        params.get("operationName").cloned().unwrap_or(Value::Null),
        params.get("variables").cloned().unwrap_or(Value::Null),
        params.get("extensions").cloned().unwrap_or(Value::Null),
    )
}

/// The parameters of a GET: strings, `variables` and `extensions` as URL-encoded JSON.
#[derive(Deserialize)]
struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

impl GetParams {
    fn into_request(self) -> Result<async_graphql::Request, String> {
        let json = |name: &str, text: Option<String>| match text.filter(|t| !t.is_empty()) {
            Some(text) => serde_json::from_str(&text).map_err(|_| format!("`{name}` must be a JSON object")),
            None => Ok(Value::Null),
        };
        request_from_params(
            self.query.map_or(Value::Null, Value::String),
            self.operation_name.filter(|n| !n.is_empty()).map_or(Value::Null, Value::String),
            json("variables", self.variables)?,
            json("extensions", self.extensions)?,
        )
    }
}

/// Checks each parameter's type (`query` and `operationName` strings, `variables` and
/// `extensions` objects, any of them null) and that there is a query to run: its text, or a
/// persisted query's hash in `extensions`.
pub(super) fn request_from_params(
    query: Value,
    operation_name: Value,
    variables: Value,
    extensions: Value,
) -> Result<async_graphql::Request, String> {
    let object = |name: &str, value: Value| match value {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        _ => Err(format!("`{name}` must be an object")),
    };
    let variables = object("variables", variables)?;
    let extensions = object("extensions", extensions)?;
    let operation_name = match operation_name {
        Value::Null => None,
        Value::String(name) => Some(name),
        _ => return Err("`operationName` must be a string".into()),
    };
    let query = match query {
        Value::String(query) => query,
        Value::Null if extensions.contains_key("persistedQuery") => String::new(),
        Value::Null => return Err("the request has no `query`".into()),
        _ => return Err("`query` must be a string".into()),
    };
    let mut request =
        async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(Value::Object(variables)));
    request.operation_name = operation_name;
    for (name, value) in extensions {
        if let Ok(value) = async_graphql::Value::from_json(value) {
            request.extensions.insert(name, value);
        }
    }
    Ok(request)
}

/// Whether the operation `request` would run is a mutation (which GET must not run).
fn is_mutation(request: &mut async_graphql::Request) -> bool {
    let operation_name = request.operation_name.clone();
    // A document that does not parse is reported by the execution, as for POST.
    let Ok(document) = request.parsed_query() else { return false };
    let operation = match &document.operations {
        DocumentOperations::Single(operation) => Some(operation),
        DocumentOperations::Multiple(operations) => operation_name
            .as_deref()
            .and_then(|wanted| operations.iter().find(|(name, _)| name.as_str() == wanted).map(|(_, op)| op)),
    };
    operation.is_some_and(|operation| operation.node.ty == OperationType::Mutation)
}

/// Whether `response` is a request error: nothing executed, so there is no `data` to send.
pub(super) fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// The body of a request error: the errors alone, without a `data` entry (the GraphQL spec: an
/// error before execution has no `data`).
#[derive(Serialize)]
struct RequestErrorBody<'a> {
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    extensions: &'a std::collections::BTreeMap<String, async_graphql::Value>,
}

/// Sends `response` as `media`, with the status the spec gives it under that type.
pub(super) fn render(media: Media, response: async_graphql::Response) -> Response {
    let status = match media {
        Media::GraphqlResponse if is_request_error(&response) => {
            let ours = response.errors.iter().any(|error| {
                error
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("code"))
                    .is_some_and(|c| *c == async_graphql::Value::from(code::INTERNAL))
            });
            if ours { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::BAD_REQUEST }
        }
        Media::GraphqlResponse | Media::Json => StatusCode::OK,
    };
    render_with_status(media, status, response)
}

fn render_with_status(media: Media, status: StatusCode, response: async_graphql::Response) -> Response {
    let body = if is_request_error(&response) {
        serde_json::to_vec(&RequestErrorBody { errors: &response.errors, extensions: &response.extensions })
    } else {
        serde_json::to_vec(&response)
    };
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "could not serialise a GraphQL response");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut headers = response.http_headers;
    headers.insert(header::CONTENT_TYPE, media.content_type());
    if let Some(cache_control) = response.cache_control.value().and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CACHE_CONTROL, cache_control);
    }
    (status, headers, body).into_response()
}

/// A request that is not a well-formed GraphQL-over-HTTP request: `problem` says what to fix.
fn reject(media: Media, status: StatusCode, problem: String) -> Response {
    render_with_status(media, status, graphql::error_response(AppError::bad_input(problem)))
}

fn not_acceptable() -> Response {
    reject(
        Media::Json,
        StatusCode::NOT_ACCEPTABLE,
        "accept application/graphql-response+json, application/json or text/event-stream".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Accept {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        Accept::of(&headers, true)
    }

    #[test]
    fn the_preferred_media_type_wins() {
        assert_eq!(Accept::of(&HeaderMap::new(), true), Accept::Json);
        assert_eq!(accept("*/*"), Accept::Json);
        assert_eq!(accept("application/json"), Accept::Json);
        assert_eq!(accept("application/graphql-response+json"), Accept::GraphqlResponse);
        assert_eq!(accept("application/graphql-response+json, application/json;q=0.9"), Accept::GraphqlResponse);
        assert_eq!(accept("application/json;q=0.9, application/graphql-response+json"), Accept::GraphqlResponse);
        assert_eq!(accept("application/json, application/graphql-response+json"), Accept::Json);
        assert_eq!(accept("text/event-stream"), Accept::EventStream);
        assert_eq!(accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), Accept::Html);
        assert_eq!(accept("application/graphql-response+json;q=0, application/json;q=0.1"), Accept::Json);
        assert_eq!(accept("image/png"), Accept::Unsupported);
    }

    #[test]
    fn parameters_of_the_wrong_type_are_refused() {
        let request = |body: Value| request_from_body(body.to_string().as_bytes());
        assert!(request(serde_json::json!({ "query": "{ a }", "variables": null, "extensions": null })).is_ok());
        assert!(request(serde_json::json!({ "extensions": { "persistedQuery": {} } })).is_ok());
        for bad in [
            serde_json::json!({ "notquery": "{ a }" }),
            serde_json::json!({ "query": 1 }),
            serde_json::json!({ "query": "{ a }", "operationName": false }),
            serde_json::json!({ "query": "{ a }", "variables": "x" }),
            serde_json::json!({ "query": "{ a }", "extensions": ["x"] }),
            serde_json::json!(["{ a }"]),
        ] {
            assert!(request(bad.clone()).is_err(), "{bad}");
        }
        assert!(request_from_body(b"").is_err());
        assert!(request_from_body(b"{ \"not JSON").is_err());
    }

    #[test]
    fn mutations_are_found_by_operation_name() {
        let mut request = async_graphql::Request::new("query A { a } mutation B { b }").operation_name("B");
        assert!(is_mutation(&mut request));
        let mut request = async_graphql::Request::new("query A { a } mutation B { b }").operation_name("A");
        assert!(!is_mutation(&mut request));
        assert!(is_mutation(&mut async_graphql::Request::new("mutation { b }")));
        assert!(!is_mutation(&mut async_graphql::Request::new("{")));
    }
}
