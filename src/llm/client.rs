//! The HTTP side: one shared `reqwest::Client`, status checked before any event is read, SSE
//! decoded with `eventsource-stream`, retries only before the first event is handed out.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource as _;
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use rand::Rng as _;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;

use super::error::{ApiErrorKind, LlmError};
use super::events::{ErrorBody, StreamEvent, ToolCall};
use super::retry::{RetryPolicy, retry_after, should_retry_status};
use super::types::{CompletedMessage, MessagesRequest, Usage};
use super::usage::{Metered, UsageMeter, count_stream};
use crate::config::{AnthropicConfig, Secret};

const API_VERSION: &str = "2023-06-01";

/// The events of one answer. Ends after `message_stop`; a stream that stops before it yields
/// [`LlmError::Incomplete`] last. Dropping it closes the connection to the API at once.
pub type MessageStream = BoxStream<'static, Result<StreamEvent, LlmError>>;

#[derive(Clone)]
pub struct AnthropicClient {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<Secret>,
    retry: RetryPolicy,
    /// Counts every call made for a user and keeps them within their budget.
    meter: Option<Arc<dyn UsageMeter>>,
}

impl AnthropicClient {
    pub fn new(config: &AnthropicConfig, retry: RetryPolicy) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // A live stream sends pings; this long without a byte means the stream is dead.
            .read_timeout(Duration::from_secs(90))
            .timeout(Duration::from_secs(600))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("assistant/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base_url: config.base_url.clone(), api_key: config.api_key.clone(), retry, meter: None })
    }

    /// Counts every call whose request names a user (`MessagesRequest::user`) with `meter`, and
    /// refuses those over the user's budget before they are made.
    pub fn with_meter(mut self, meter: Arc<dyn UsageMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Whether `user` has room in their Claude budget for a call for `purpose` now (a chat turn
    /// asks before it stores anything).
    pub async fn check_budget(&self, user: uuid::Uuid, purpose: &'static str) -> Result<(), LlmError> {
        match &self.meter {
            Some(meter) => meter.check(user, purpose).await.map_err(LlmError::OverBudget),
            None => Ok(()),
        }
    }

    /// The meter of `request`'s user, once it said the call may be made.
    async fn admit(&self, request: &MessagesRequest) -> Result<Option<Metered>, LlmError> {
        let (Some(meter), Some(user)) = (&self.meter, request.user) else { return Ok(None) };
        if let Err(exceeded) = meter.admit(user, request.purpose).await {
            metrics::counter!("claude_budget_refusals_total", "purpose" => request.purpose).increment(1);
            return Err(LlmError::OverBudget(exceeded));
        }
        Ok(Some(Metered { meter: meter.clone(), user, purpose: request.purpose }))
    }

    /// Starts a streamed answer. Failures before the first event (HTTP errors, connection
    /// errors, an `error` event first) are retried per the policy; nothing is retried after.
    /// Counted once the stream is over or dropped.
    pub async fn stream(&self, request: &MessagesRequest) -> Result<MessageStream, LlmError> {
        let metered = self.admit(request).await?;
        let body = with_stream_flag(request, true)?;
        let stream = self
            .with_retries(request.purpose, true, || async {
                let response = self.post("/v1/messages", &body).await?;
                let mut events = decode_events(response);
                match events.next().await {
                    Some(Ok(StreamEvent::Error { error })) => Err(api_error_from_event(error)),
                    Some(Ok(first)) => Ok(futures::stream::once(async { Ok(first) }).chain(events).boxed()),
                    Some(Err(error)) => Err(error),
                    None => Err(LlmError::Incomplete),
                }
            })
            .await?;
        Ok(count_stream(stream, request.purpose, metered))
    }

    /// A whole answer in one response (for background work such as memory extraction).
    pub async fn complete(&self, request: &MessagesRequest) -> Result<CompletedMessage, LlmError> {
        let metered = self.admit(request).await?;
        let body = with_stream_flag(request, false)?;
        let reply = self
            .with_retries(request.purpose, false, || async {
                let response = self.post("/v1/messages", &body).await?;
                let message: WholeMessage = response.json().await.map_err(|e| LlmError::Decode(e.to_string()))?;
                Ok(CompletedMessage::from(message))
            })
            .await?;
        super::record_usage(request.purpose, &reply.usage);
        if let Some(Metered { meter, user, purpose }) = metered {
            meter.record(user, purpose, reply.usage).await;
        }
        Ok(reply)
    }

    /// Runs `attempt`, retrying per the policy; counts each call, retry and failure by purpose.
    async fn with_retries<T, F, Fut>(&self, purpose: &'static str, stream: bool, mut attempt: F) -> Result<T, LlmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        let mut retry = 0;
        let what = if stream { "messages (stream)" } else { "messages" };
        metrics::counter!("claude_calls_total", "purpose" => purpose).increment(1);
        loop {
            let outcome = attempt().await;
            if let Err(error) = &outcome {
                metrics::counter!("claude_errors_total", "purpose" => purpose, "kind" => error.kind_label())
                    .increment(1);
            }
            match outcome {
                Ok(value) => return Ok(value),
                Err(error) if retry < self.retry.max_retries && error.should_retry_now() => {
                    metrics::counter!("claude_retries_total", "purpose" => purpose).increment(1);
                    let server_asked = match &error {
                        LlmError::Api { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    let delay = self.retry.delay(retry, server_asked, rand::rng().random::<f64>());
                    tracing::warn!(%error, retry = retry + 1, delay_ms = delay.as_millis() as u64, "Claude {what} failed; retrying");
                    tokio::time::sleep(delay).await;
                    retry += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// One POST; any status but 2xx becomes a typed error with the server's retry advice.
    async fn post(&self, path: &str, body: &serde_json::Value) -> Result<reqwest::Response, LlmError> {
        let api_key = self.api_key.as_ref().ok_or(LlmError::NotConfigured)?;
        let mut key = HeaderValue::from_str(api_key.expose()).map_err(|_| LlmError::NotConfigured)?;
        key.set_sensitive(true);
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("x-api-key", key)
            .header("anthropic-version", API_VERSION)
            .header(CONTENT_TYPE, "application/json")
            .json(body)
            .send()
            .await
            .map_err(LlmError::Connection)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Err(api_error_from_response(status.as_u16(), &headers, &text))
    }
}

fn with_stream_flag(request: &MessagesRequest, stream: bool) -> Result<serde_json::Value, LlmError> {
    let mut body = serde_json::to_value(request).map_err(|e| LlmError::Decode(e.to_string()))?;
    body["stream"] = stream.into();
    Ok(body)
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

fn api_error_from_response(status: u16, headers: &HeaderMap, body: &str) -> LlmError {
    let parsed = serde_json::from_str::<ErrorEnvelope>(body).ok().map(|e| e.error);
    let kind = match &parsed {
        Some(error) if ApiErrorKind::from_type(&error.kind) != ApiErrorKind::Other => {
            ApiErrorKind::from_type(&error.kind)
        }
        _ => ApiErrorKind::from_status(status),
    };
    LlmError::Api {
        kind,
        status: Some(status),
        message: parsed.map(|e| e.message).unwrap_or_else(|| format!("HTTP {status}")),
        request_id: headers.get("request-id").and_then(|v| v.to_str().ok()).map(str::to_owned),
        retry_after: retry_after(headers),
        should_retry: Some(should_retry_status(status, headers)),
    }
}

fn api_error_from_event(error: ErrorBody) -> LlmError {
    LlmError::Api {
        kind: ApiErrorKind::from_type(&error.kind),
        status: None,
        message: error.message,
        request_id: None,
        retry_after: None,
        should_retry: None,
    }
}

/// SSE bytes to typed events. Stops after `message_stop`; reports a stream that ends before
/// it (eventsource-stream silently drops a last event without its blank line, so the missing
/// `message_stop` is what tells).
fn decode_events(response: reqwest::Response) -> MessageStream {
    struct State<S> {
        inner: S,
        finished: bool,
    }
    let inner = response.bytes_stream().eventsource().map_err(|e| LlmError::Stream(e.to_string()));
    futures::stream::unfold(State { inner: Box::pin(inner), finished: false }, |mut state| async move {
        if state.finished {
            return None;
        }
        let item = match state.inner.next().await {
            Some(Ok(event)) => serde_json::from_str::<StreamEvent>(&event.data)
                .map_err(|e| LlmError::Decode(format!("event `{}` is not valid: {e}", event.event))),
            Some(Err(error)) => Err(error),
            None => Err(LlmError::Incomplete),
        };
        state.finished = matches!(item, Ok(StreamEvent::MessageStop) | Ok(StreamEvent::Error { .. }) | Err(_));
        Some((item, state))
    })
    .boxed()
}

#[derive(Deserialize)]
struct WholeMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<WholeBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Usage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WholeBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: serde_json::Value,
    },
    #[serde(other)]
    Other,
}

impl From<WholeMessage> for CompletedMessage {
    fn from(message: WholeMessage) -> Self {
        let mut completed = CompletedMessage {
            id: message.id,
            model: message.model,
            stop_reason: message.stop_reason,
            usage: message.usage,
            ..Default::default()
        };
        for block in message.content {
            match block {
                WholeBlock::Text { text } => completed.text.push_str(&text),
                WholeBlock::ToolUse { id, name, input } => completed.tool_calls.push(ToolCall { id, name, input }),
                WholeBlock::Other => {}
            }
        }
        completed
    }
}
