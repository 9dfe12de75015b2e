//! A fake Anthropic Messages API on a real port that speaks the wire protocol the way the real
//! one does, including the awkward parts: SSE cut into chunks at random byte offsets (inside
//! events and inside multi-byte UTF-8), pings between events, CRLF line ends, JSON padded with
//! spaces, several content blocks in one answer (thinking before text, text after text), any
//! `stop_reason`, exact scripted usage, `tool_use` blocks whose input arrives in many
//! `input_json_delta` pieces cut at awkward offsets (the first one empty, as the API sends it),
//! replies computed from the request (to answer a follow-up that carries `tool_result`s), errors before the stream (any status, with the headers the
//! script gives, `retry-after` included) and during it (`event: error`), streams that end without
//! `message_stop`, connections reset (a TCP RST) in the middle of the body, slow streams. It
//! records every request it receives, with when it arrived, and notices when a client drops a
//! stream before its end.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::IncomingStream;
use futures::{Stream, StreamExt as _};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How a scripted stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `message_delta` then `message_stop`, as a healthy stream does.
    MessageStop,
    /// `event: error` (overloaded) after this many text deltas.
    ErrorAfter(usize),
    /// The body ends cleanly after this many text deltas, with no `message_stop`.
    EofAfter(usize),
    /// The connection is reset (TCP RST, no FIN, no end of the chunked body) after this many
    /// text deltas, once they have left.
    ResetAfter(usize),
}

/// A content block of a scripted answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// Extended thinking: `thinking_delta`s then a `signature_delta`. Never shown to the user.
    Thinking(String),
    Text(String),
    /// A client tool call: `input` is the raw JSON text Claude writes (it may be broken on
    /// purpose), sent as `input_json_delta` pieces of 1 to 7 bytes (whole characters).
    ToolUse {
        id: String,
        name: String,
        input: String,
    },
}

impl Block {
    /// A tool call with this input.
    pub fn tool(id: &str, name: &str, input: Value) -> Self {
        Self::ToolUse { id: id.into(), name: name.into(), input: input.to_string() }
    }
}

/// Token counts for the fake to report, exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

/// A scripted streamed answer.
#[derive(Clone, Debug)]
pub struct StreamReply {
    /// The answer, as one text block (unless `blocks` is given).
    pub text: String,
    /// The content blocks, in order, instead of the one text block of `text`.
    pub blocks: Option<Vec<Block>>,
    pub ending: Ending,
    /// `message_delta.delta.stop_reason` of a stream that ends with `message_stop`.
    pub stop_reason: &'static str,
    /// What `message_start` (input and cache counts, 1 output token) and the final
    /// `message_delta` (the output count, cumulative) report. Unscripted: input is a quarter of
    /// the request's length, output the number of characters of the text.
    pub usage: Option<Usage>,
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
    /// Exact delta texts of the one text block, instead of cutting `text` at random.
    pub pieces: Option<Vec<String>>,
}

impl StreamReply {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            blocks: None,
            ending: Ending::MessageStop,
            stop_reason: "end_turn",
            usage: None,
            seed: 7,
            crlf: false,
            chunk_delay: Duration::ZERO,
            chunk_per_event: false,
            error_first: false,
            pieces: None,
        }
    }

    /// An answer of several content blocks.
    pub fn blocks(blocks: Vec<Block>) -> Self {
        Self { blocks: Some(blocks), ..Self::text("") }
    }
}

#[derive(Clone, Debug)]
pub enum Reply {
    Stream(StreamReply),
    /// An error before the stream: a real status with the API's JSON error body, the
    /// `request-id` header, and these headers (`retry-after`, `retry-after-ms`, `x-should-retry`).
    Status {
        status: u16,
        error_type: &'static str,
        headers: Vec<(&'static str, String)>,
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
    /// This reply, after a pause (a slow API).
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    /// An error status with the API's error body and no advice on retrying.
    pub fn error(status: u16, error_type: &'static str) -> Self {
        Self::error_with(status, error_type, &[])
    }

    /// An error status with the API's error body and these headers.
    pub fn error_with(status: u16, error_type: &'static str, headers: &[(&'static str, &str)]) -> Self {
        let headers = headers.iter().map(|(name, value)| (*name, value.to_string())).collect();
        Self::Status { status, error_type, headers }
    }

    /// A 529 that asks for a 10 ms wait.
    pub fn overloaded() -> Self {
        Self::error_with(529, "overloaded_error", &[("retry-after-ms", "10"), ("retry-after", "1")])
    }
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
}

impl Recorded {
    pub fn is_stream(&self) -> bool {
        self.body["stream"] == true
    }

    /// The request's messages as (role, content) pairs; a message of blocks reads as its text
    /// blocks joined.
    pub fn messages(&self) -> Vec<(String, String)> {
        self.body["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| {
                        let content = match &m["content"] {
                            Value::String(text) => text.clone(),
                            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect(),
                            _ => String::new(),
                        };
                        (m["role"].as_str().unwrap_or("").to_owned(), content)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The content blocks of every message, in order, with the role of their message.
    pub fn blocks(&self) -> Vec<(String, Value)> {
        let mut blocks = Vec::new();
        for message in self.body["messages"].as_array().into_iter().flatten() {
            for block in message["content"].as_array().into_iter().flatten() {
                blocks.push((message["role"].as_str().unwrap_or("").to_owned(), block.clone()));
            }
        }
        blocks
    }

    /// The `tool_result` blocks the request carries.
    pub fn tool_results(&self) -> Vec<Value> {
        self.blocks().into_iter().filter(|(_, b)| b["type"] == "tool_result").map(|(_, b)| b).collect()
    }

    /// Whether the request offers tools and lets the model use them.
    pub fn allows_tools(&self) -> bool {
        self.body["tools"].is_array() && self.body["tool_choice"]["type"] != "none"
    }

    /// The system prompt's text blocks joined.
    pub fn system_text(&self) -> String {
        self.body["system"]
            .as_array()
            .map(|blocks| blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

/// A scripted model: the reply to any streamed request, computed from it.
type StreamModel = dyn Fn(&Recorded) -> Reply + Send + Sync;

enum ToolScript {
    Fixed(Reply),
    Computed(Box<dyn Fn(&Recorded) -> Reply + Send + Sync>),
}

#[derive(Default)]
struct Inner {
    stream_replies: Mutex<VecDeque<ToolScript>>,
    /// What answers a streamed request when no reply is queued (a scripted model).
    stream_default: Mutex<Option<Arc<StreamModel>>>,
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
        let app = axum::Router::new().route("/v1/messages", post(messages)).with_state(inner.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Anthropic API");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let app = app.into_make_service_with_connect_info::<ResetSwitch>();
        tokio::spawn(async move { axum::serve(Resettable(listener), app).await });
        Self { base_url, inner }
    }

    /// Queues replies for streamed requests, used in order.
    pub fn push_stream(&self, reply: Reply) {
        self.inner.stream_replies.lock().unwrap().push_back(ToolScript::Fixed(reply));
    }

    /// Like [`push_stream`], with the reply computed from the request (to quote the
    /// `tool_result` a follow-up request carries, or to call tools for as long as it may).
    pub fn push_stream_with(&self, reply: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        self.inner.stream_replies.lock().unwrap().push_back(ToolScript::Computed(Box::new(reply)));
    }

    /// Answers every streamed request that finds no queued reply with `model` (a scripted model
    /// that decides from the request alone, e.g. when to call a tool), instead of
    /// [`DEFAULT_ANSWER`].
    pub fn set_stream_model(&self, model: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) {
        *self.inner.stream_default.lock().unwrap() = Some(Arc::new(model));
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

    /// The non-streamed requests that offered tools (memory extraction; the chat's memory tools
    /// come with streamed requests).
    pub fn tool_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| !r.is_stream() && r.body["tools"].is_array()).collect()
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
}

async fn messages(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(connection): ConnectInfo<ResetSwitch>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(_) => return error_response(400, "invalid_request_error", &[]),
    };
    let streamed = body["stream"] == true;
    let offers_tools = body["tools"].is_array();
    let input_tokens = body.to_string().len() as u64 / 4;
    let request = Recorded { path: "/v1/messages".into(), headers, body, at: Instant::now() };
    inner.requests.lock().unwrap().push(request.clone());
    let reply = if streamed {
        let script = inner.stream_replies.lock().unwrap().pop_front();
        match script {
            Some(ToolScript::Fixed(reply)) => reply,
            Some(ToolScript::Computed(reply)) => reply(&request),
            None => {
                let model = inner.stream_default.lock().unwrap().clone();
                match model {
                    Some(model) => model(&request),
                    None => Reply::Stream(StreamReply::text(DEFAULT_ANSWER)),
                }
            }
        }
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
    let mut reply = reply;
    while let Reply::Delayed(pause, delayed) = reply {
        tokio::time::sleep(pause).await;
        reply = *delayed;
    }
    match reply {
        Reply::Delayed(..) => unreachable!("unwrapped above"),
        Reply::Status { status, error_type, headers } => error_response(status, error_type, &headers),
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
        Reply::Stream(script) => stream_response(inner, connection, script, input_tokens),
    }
}

fn error_response(status: u16, error_type: &str, extra: &[(&'static str, String)]) -> Response {
    let body = json!({ "type": "error", "error": { "type": error_type, "message": format!("fake {error_type}") }, "request_id": "req_fake" });
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert("request-id", "req_fake".parse().unwrap());
    for (name, value) in extra {
        headers.insert(*name, value.parse().unwrap());
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

/// What the body of a scripted stream is made of.
enum Part {
    /// An event, with the text delta it carries (if any).
    Event(String, Option<String>),
    /// Reset the connection here.
    Reset,
}

/// `text` in deltas of 1-5 characters (whole characters: each delta is valid JSON).
fn random_pieces(text: &str, rng: &mut StdRng) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let take = rng.random_range(1..=5).min(chars.len() - at);
        pieces.push(chars[at..at + take].iter().collect::<String>());
        at += take;
    }
    pieces
}

/// Raw JSON text in pieces of 1 to 7 bytes, wherever that falls (inside strings, escapes and
/// numbers), rounded to whole characters so each piece is a valid JSON string.
fn json_pieces(json: &str, rng: &mut StdRng) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < json.len() {
        let mut end = (at + rng.random_range(1..=7)).min(json.len());
        while !json.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(json[at..end].to_owned());
        at = end;
    }
    pieces
}

/// The parts of a scripted answer.
fn script_parts(script: &StreamReply, input_tokens: u64, rng: &mut StdRng) -> Vec<Part> {
    let plain = |text: String| Part::Event(text, None);
    let mut parts = Vec::new();
    if script.error_first {
        parts.push(plain(overloaded_event()));
        return parts;
    }
    let blocks = script.blocks.clone().unwrap_or_else(|| vec![Block::Text(script.text.clone())]);
    let text_chars: usize =
        blocks.iter().map(|b| if let Block::Text(text) = b { text.chars().count() } else { 0 }).sum();
    let usage = script.usage.unwrap_or(Usage {
        input_tokens,
        output_tokens: text_chars as u64,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
    });
    parts.push(plain(event(
        "message_start",
        json!({ "type": "message_start", "message": { "id": "msg_fake", "type": "message", "role": "assistant",
            "model": "claude-fake", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": { "input_tokens": usage.input_tokens, "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                "cache_read_input_tokens": usage.cache_read_input_tokens, "output_tokens": 1 } } }),
    )));
    parts.push(plain(event("ping", json!({ "type": "ping" }))));

    let mut text_deltas = 0;
    for (index, block) in blocks.iter().enumerate() {
        match block {
            Block::Thinking(thinking) => {
                parts.push(plain(event(
                    "content_block_start",
                    json!({ "type": "content_block_start", "index": index, "content_block": { "type": "thinking", "thinking": "", "signature": "" } }),
                )));
                for piece in random_pieces(thinking, rng) {
                    parts.push(plain(event(
                        "content_block_delta",
                        json!({ "type": "content_block_delta", "index": index, "delta": { "type": "thinking_delta", "thinking": piece } }),
                    )));
                }
                parts.push(plain(event(
                    "content_block_delta",
                    json!({ "type": "content_block_delta", "index": index, "delta": { "type": "signature_delta", "signature": "RXVnZW5pYQ==" } }),
                )));
            }
            Block::ToolUse { id, name, input } => {
                parts.push(plain(event(
                    "content_block_start",
                    json!({ "type": "content_block_start", "index": index, "content_block": { "type": "tool_use", "id": id, "name": name, "input": {} } }),
                )));
                let mut pieces = vec![String::new()];
                pieces.extend(json_pieces(input, rng));
                for piece in pieces {
                    parts.push(plain(event(
                        "content_block_delta",
                        json!({ "type": "content_block_delta", "index": index, "delta": { "type": "input_json_delta", "partial_json": piece } }),
                    )));
                }
            }
            Block::Text(text) => {
                parts.push(plain(event(
                    "content_block_start",
                    json!({ "type": "content_block_start", "index": index, "content_block": { "type": "text", "text": "" } }),
                )));
                let pieces = match (&script.pieces, &script.blocks) {
                    (Some(pieces), None) => pieces.clone(),
                    _ => random_pieces(text, rng),
                };
                for piece in pieces {
                    match script.ending {
                        Ending::ErrorAfter(n) if text_deltas == n => {
                            parts.push(plain(overloaded_event()));
                            return parts;
                        }
                        Ending::EofAfter(n) if text_deltas == n => return parts,
                        Ending::ResetAfter(n) if text_deltas == n => {
                            parts.push(Part::Reset);
                            return parts;
                        }
                        _ => {}
                    }
                    parts.push(Part::Event(
                        event(
                            "content_block_delta",
                            json!({ "type": "content_block_delta", "index": index, "delta": { "type": "text_delta", "text": piece } }),
                        ),
                        Some(piece),
                    ));
                    text_deltas += 1;
                    if rng.random_bool(0.1) {
                        parts.push(plain(event("ping", json!({ "type": "ping" }))));
                    }
                }
            }
        }
        parts.push(plain(event("content_block_stop", json!({ "type": "content_block_stop", "index": index }))));
    }
    parts.push(plain(event(
        "message_delta",
        json!({ "type": "message_delta", "delta": { "stop_reason": script.stop_reason, "stop_sequence": null }, "usage": { "output_tokens": usage.output_tokens } }),
    )));
    parts.push(plain(event("message_stop", json!({ "type": "message_stop" }))));
    parts
}

/// A piece of the body as it is handed to the connection.
enum Chunk {
    /// Bytes, with the delta texts whose events they complete.
    Bytes(Vec<u8>, Vec<String>),
    Reset,
}

/// How long a stream that is about to be reset pauses first, so what came before it has left
/// (a reset throws away whatever is still unsent).
const BEFORE_RESET: Duration = Duration::from_millis(50);

fn stream_response(inner: Arc<Inner>, connection: ResetSwitch, script: StreamReply, input_tokens: u64) -> Response {
    let mut rng = StdRng::seed_from_u64(script.seed);
    let parts = script_parts(&script, input_tokens, &mut rng);
    let line_ends = |s: String| if script.crlf { s.replace('\n', "\r\n") } else { s };
    let resets = parts.iter().any(|p| matches!(p, Part::Reset));
    let mut chunks: Vec<Chunk> = if script.chunk_per_event {
        parts
            .into_iter()
            .filter_map(|part| match part {
                Part::Event(text, delta) => {
                    Some(Chunk::Bytes(line_ends(text).into_bytes(), delta.into_iter().collect()))
                }
                Part::Reset => None,
            })
            .collect()
    } else {
        let text: String = parts
            .into_iter()
            .filter_map(|part| match part {
                Part::Event(text, _) => Some(text),
                Part::Reset => None,
            })
            .collect();
        let bytes = line_ends(text).into_bytes();
        let mut chunks = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let take = rng.random_range(1..=40).min(bytes.len() - at);
            chunks.push(Chunk::Bytes(bytes[at..at + take].to_vec(), Vec::new()));
            at += take;
        }
        chunks
    };
    if resets {
        chunks.push(Chunk::Reset);
    }
    let delay = script.chunk_delay;
    let log = inner.clone();
    let body = futures::stream::iter(chunks).then(move |chunk| {
        let log = log.clone();
        let connection = connection.clone();
        async move {
            let (chunk, deltas) = match chunk {
                Chunk::Bytes(chunk, deltas) => (chunk, deltas),
                Chunk::Reset => {
                    tokio::time::sleep(BEFORE_RESET).await;
                    connection.reset();
                    return Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "scripted reset"));
                }
            };
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

impl<S: Stream<Item = Result<T, E>>, T, E> Stream for DropTracked<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        // Its end, or the scripted reset: either way the fake, not the client, ended it.
        if let Poll::Ready(None | Some(Err(_))) = polled {
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

/// The listener of the fake: plain TCP, with a switch per connection that makes its close a
/// reset.
struct Resettable(TcpListener);

impl axum::serve::Listener for Resettable {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((tcp, address)) => {
                    let _ = tcp.set_nodelay(true);
                    return (Connection { tcp, reset: ResetSwitch::default() }, address);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// Turns a connection's close into a reset; handlers get it as `ConnectInfo`.
#[derive(Clone, Default)]
struct ResetSwitch(Arc<AtomicBool>);

impl ResetSwitch {
    fn reset(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_on(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Connected<IncomingStream<'_, Resettable>> for ResetSwitch {
    fn connect_info(stream: IncomingStream<'_, Resettable>) -> Self {
        stream.io().reset.clone()
    }
}

/// One accepted connection. Once its switch is on it writes nothing more, sends no FIN, and
/// closes with `SO_LINGER` 0: the peer gets a RST, as when a proxy or the API's edge drops a
/// connection.
struct Connection {
    tcp: TcpStream,
    reset: ResetSwitch,
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.reset.is_on() {
            return Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.reset.is_on() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.reset.is_on() {
            let _ = self.tcp.set_zero_linger();
        }
    }
}
