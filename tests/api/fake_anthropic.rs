//! A fake Anthropic Messages API on a real port that speaks the wire protocol the way the real
//! one does, including the awkward parts: SSE cut into chunks at random byte offsets (inside
//! events and inside multi-byte UTF-8), pings between events, CRLF line ends, JSON padded with
//! spaces, errors before the stream (with retry headers) and during it (`event: error`), streams
//! that end without `message_stop`, slow streams. It records every request it receives and
//! notices when a client drops a stream before its end.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::{Stream, StreamExt as _};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};

/// How a scripted stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `message_delta` then `message_stop`, as a healthy stream does.
    MessageStop,
    /// `event: error` (overloaded) after this many text deltas.
    ErrorAfter(usize),
    /// The connection closes after this many text deltas, with no `message_stop`.
    EofAfter(usize),
}

/// A scripted streamed answer.
#[derive(Clone, Debug)]
pub struct StreamReply {
    pub text: String,
    pub ending: Ending,
    /// Seed of the random cuts (of the text into deltas, of the bytes into chunks).
    pub seed: u64,
    pub crlf: bool,
    /// Sleep between chunks (a slow stream).
    pub chunk_delay: Duration,
    /// Send each event as its own chunk (and log when each delta leaves), instead of cutting
    /// the bytes at random offsets.
    pub chunk_per_event: bool,
    /// Send an `error` event first (right after the 200), as an overloaded API does.
    pub error_first: bool,
    /// Exact delta texts, instead of cutting `text` at random.
    pub pieces: Option<Vec<String>>,
}

impl StreamReply {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ending: Ending::MessageStop,
            seed: 7,
            crlf: false,
            chunk_delay: Duration::ZERO,
            chunk_per_event: false,
            error_first: false,
            pieces: None,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Reply {
    Stream(StreamReply),
    /// An error before the stream: a real status with the API's JSON error body.
    Status {
        status: u16,
        error_type: &'static str,
        retry_after_ms: Option<u64>,
        should_retry: Option<bool>,
    },
    /// A non-streamed answer (`stream: false`), as the API's JSON message.
    Json {
        text: String,
    },
    /// A non-streamed answer that calls a tool (`stop_reason: tool_use`), after a line of text
    /// as Claude often writes one.
    ToolUse {
        name: String,
        input: Value,
    },
}

impl Reply {
    pub fn overloaded() -> Self {
        Self::Status { status: 529, error_type: "overloaded_error", retry_after_ms: Some(10), should_retry: None }
    }
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// When it arrived (the chat benchmark measures from it).
    #[allow(dead_code)]
    pub at: Instant,
}

impl Recorded {
    pub fn is_stream(&self) -> bool {
        self.body["stream"] == true
    }

    /// The request's messages as (role, content) pairs.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.body["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| {
                        (m["role"].as_str().unwrap_or("").to_owned(), m["content"].as_str().unwrap_or("").to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The system prompt's text blocks joined.
    pub fn system_text(&self) -> String {
        self.body["system"]
            .as_array()
            .map(|blocks| blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

enum ToolScript {
    Fixed(Reply),
    Computed(Box<dyn Fn(&Recorded) -> Reply + Send + Sync>),
}

#[derive(Default)]
struct Inner {
    stream_replies: Mutex<VecDeque<Reply>>,
    other_replies: Mutex<VecDeque<Reply>>,
    tool_replies: Mutex<VecDeque<ToolScript>>,
    requests: Mutex<Vec<Recorded>>,
    dropped: AtomicUsize,
    /// When each text delta left, for latency measurements (`chunk_per_event` streams only).
    sent_deltas: Mutex<Vec<(String, Instant)>>,
}

#[derive(Clone)]
pub struct FakeAnthropic {
    pub base_url: String,
    inner: Arc<Inner>,
}

/// What the fake answers when nothing was scripted.
pub const DEFAULT_ANSWER: &str = "Happy to help.";
pub const DEFAULT_SUMMARY: &str = "The user and the assistant talked about several things.";

impl FakeAnthropic {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/v1/messages", post(messages))
            .route("/v1/messages/count_tokens", post(count_tokens))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Anthropic API");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, inner }
    }

    /// Queues replies for streamed requests, used in order.
    pub fn push_stream(&self, reply: Reply) {
        self.inner.stream_replies.lock().unwrap().push_back(reply);
    }

    /// Queues replies for non-streamed requests without tools (summaries), used in order.
    pub fn push_other(&self, reply: Reply) {
        self.inner.other_replies.lock().unwrap().push_back(reply);
    }

    /// Queues replies for requests that offer tools (memory extraction), used in order. Unscripted,
    /// such a request gets a plain text answer that calls no tool.
    pub fn push_tool_reply(&self, reply: Reply) {
        self.inner.tool_replies.lock().unwrap().push_back(ToolScript::Fixed(reply));
    }

    /// Like [`push_tool_reply`], with the reply computed from the request (to answer with the
    /// numbers the prompt gave, as Claude would).
    pub fn push_tool_reply_with(&self, reply: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        self.inner.tool_replies.lock().unwrap().push_back(ToolScript::Computed(Box::new(reply)));
    }

    /// The requests that offered tools.
    pub fn tool_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.body["tools"].is_array()).collect()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    pub fn stream_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(Recorded::is_stream).collect()
    }

    /// How many streams clients dropped before their end.
    pub fn dropped_streams(&self) -> usize {
        self.inner.dropped.load(Ordering::SeqCst)
    }

    #[allow(dead_code)] // used by the chat benchmark
    pub fn sent_deltas(&self) -> Vec<(String, Instant)> {
        self.inner.sent_deltas.lock().unwrap().clone()
    }

    /// Waits (at most `limit`) until `condition` holds.
    pub async fn wait_for(&self, limit: Duration, condition: impl Fn(&Self) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if condition(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        condition(self)
    }
}

async fn count_tokens(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let tokens = body.to_string().len() / 4;
    record(&inner, "/v1/messages/count_tokens", headers, body);
    axum::Json(json!({ "input_tokens": tokens })).into_response()
}

fn record(inner: &Inner, path: &str, headers: HeaderMap, body: Value) {
    inner.requests.lock().unwrap().push(Recorded { path: path.into(), headers, body, at: Instant::now() });
}

async fn messages(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(_) => return error_response(400, "invalid_request_error", None, None),
    };
    let streamed = body["stream"] == true;
    let offers_tools = body["tools"].is_array();
    let input_tokens = body.to_string().len() as u64 / 4;
    let request = Recorded { path: "/v1/messages".into(), headers, body, at: Instant::now() };
    inner.requests.lock().unwrap().push(request.clone());
    let reply = if streamed {
        inner
            .stream_replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Reply::Stream(StreamReply::text(DEFAULT_ANSWER)))
    } else if offers_tools {
        let script = inner.tool_replies.lock().unwrap().pop_front();
        match script {
            Some(ToolScript::Fixed(reply)) => reply,
            Some(ToolScript::Computed(reply)) => reply(&request),
            None => Reply::Json { text: "Nothing to note.".into() },
        }
    } else {
        inner.other_replies.lock().unwrap().pop_front().unwrap_or_else(|| Reply::Json { text: DEFAULT_SUMMARY.into() })
    };
    match reply {
        Reply::Status { status, error_type, retry_after_ms, should_retry } => {
            error_response(status, error_type, retry_after_ms, should_retry)
        }
        Reply::Json { text } => axum::Json(json!({
            "id": "msg_fake_json", "type": "message", "role": "assistant", "model": "claude-fake",
            "content": [{ "type": "text", "text": text }], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": { "input_tokens": input_tokens, "output_tokens": 12 }
        }))
        .into_response(),
        Reply::ToolUse { name, input } => axum::Json(json!({
            "id": "msg_fake_tool", "type": "message", "role": "assistant", "model": "claude-fake",
            "content": [
                { "type": "text", "text": "Let me record that." },
                { "type": "tool_use", "id": "toolu_fake_1", "name": name, "input": input }
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": { "input_tokens": input_tokens, "output_tokens": 40 }
        }))
        .into_response(),
        Reply::Stream(script) => stream_response(inner, script, input_tokens),
    }
}

fn error_response(status: u16, error_type: &str, retry_after_ms: Option<u64>, should_retry: Option<bool>) -> Response {
    let body = json!({ "type": "error", "error": { "type": error_type, "message": format!("fake {error_type}") }, "request_id": "req_fake" });
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("request-id", "req_fake".parse().unwrap());
    if let Some(ms) = retry_after_ms {
        headers.insert("retry-after-ms", ms.to_string().parse().unwrap());
        headers.insert("retry-after", ms.div_ceil(1000).to_string().parse().unwrap());
    }
    if let Some(verdict) = should_retry {
        headers.insert("x-should-retry", verdict.to_string().parse().unwrap());
    }
    response
}

/// An SSE event as the API writes it, with the JSON padded the way real traffic pads it.
fn event(name: &str, data: Value) -> String {
    let json = data.to_string();
    let padded = format!("{}   }}", &json[..json.len() - 1]);
    format!("event: {name}\ndata: {padded}\n\n")
}

/// The `error` event an overloaded API sends, first or mid-stream.
fn overloaded_event() -> String {
    event("error", json!({ "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } }))
}

/// The events of a scripted answer, each paired with the delta text it carries (if any).
fn script_events(script: &StreamReply, input_tokens: u64, rng: &mut StdRng) -> Vec<(String, Option<String>)> {
    let mut events = Vec::new();
    if script.error_first {
        events.push((overloaded_event(), None));
        return events;
    }
    events.push((
        event(
            "message_start",
            json!({ "type": "message_start", "message": { "id": "msg_fake", "type": "message", "role": "assistant",
                "model": "claude-fake", "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1 } } }),
        ),
        None,
    ));
    events.push((
        event(
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ),
        None,
    ));
    events.push((event("ping", json!({ "type": "ping" })), None));

    // The text in deltas of 1-5 characters (whole characters: each delta is valid JSON).
    let chars: Vec<char> = script.text.chars().collect();
    let pieces = script.pieces.clone().unwrap_or_else(|| {
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < chars.len() {
            let take = rng.random_range(1..=5).min(chars.len() - at);
            pieces.push(chars[at..at + take].iter().collect::<String>());
            at += take;
        }
        pieces
    });
    for (i, piece) in pieces.iter().enumerate() {
        match script.ending {
            Ending::ErrorAfter(n) if i == n => {
                events.push((overloaded_event(), None));
                return events;
            }
            Ending::EofAfter(n) if i == n => return events,
            _ => {}
        }
        events.push((
            event(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": piece } }),
            ),
            Some(piece.clone()),
        ));
        if rng.random_bool(0.1) {
            events.push((event("ping", json!({ "type": "ping" })), None));
        }
    }
    events.push((event("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })), None));
    events.push((
        event(
            "message_delta",
            json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null }, "usage": { "output_tokens": chars.len() } }),
        ),
        None,
    ));
    events.push((event("message_stop", json!({ "type": "message_stop" })), None));
    events
}

fn stream_response(inner: Arc<Inner>, script: StreamReply, input_tokens: u64) -> Response {
    let mut rng = StdRng::seed_from_u64(script.seed);
    let events = script_events(&script, input_tokens, &mut rng);
    let line_ends = |s: String| if script.crlf { s.replace('\n', "\r\n") } else { s };
    // Each chunk carries the delta texts whose events it completes.
    let chunks: Vec<(Vec<u8>, Vec<String>)> = if script.chunk_per_event {
        events.into_iter().map(|(text, delta)| (line_ends(text).into_bytes(), delta.into_iter().collect())).collect()
    } else {
        let bytes = line_ends(events.into_iter().map(|(text, _)| text).collect::<String>()).into_bytes();
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let take = rng.random_range(1..=40).min(bytes.len() - at);
            chunks.push((bytes[at..at + take].to_vec(), Vec::new()));
            at += take;
        }
        chunks
    };
    let delay = script.chunk_delay;
    let log = inner.clone();
    let body = futures::stream::iter(chunks).then(move |(chunk, deltas)| {
        let log = log.clone();
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if !deltas.is_empty() {
                let now = Instant::now();
                log.sent_deltas.lock().unwrap().extend(deltas.into_iter().map(|d| (d, now)));
            }
            Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk))
        }
    });
    let body = DropTracked { inner: Box::pin(body), finished: false, fake: inner };
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("request-id", "req_fake_stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(body))
        .unwrap()
}

/// Counts a stream as dropped when the server lets go of it before its end (the client went away).
struct DropTracked<S> {
    inner: Pin<Box<S>>,
    finished: bool,
    fake: Arc<Inner>,
}

impl<S: Stream> Stream for DropTracked<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None) = polled {
            self.finished = true;
        }
        polled
    }
}

impl<S> Drop for DropTracked<S> {
    fn drop(&mut self) {
        if !self.finished {
            self.fake.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}
