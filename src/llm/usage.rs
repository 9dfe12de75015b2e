//! Every Claude call is counted for the user it is made for, at this one place: the client asks
//! the meter before a call whose request names a user, and tells it what the call used after.
//! The meter itself (SQL for the `usage` query, short-term counters for budgets) lives above,
//! in the services; this module only says what the client needs from it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use uuid::Uuid;

use super::events::StreamEvent;
use super::types::Usage;
use super::{LlmError, MessageStream};

/// Why a user may not make a Claude call now: which budget is spent and when it refills.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// The operator's variable that set the limit (`CLAUDE_CALLS_PER_MINUTE`, ...).
    pub limit: &'static str,
    /// How many the limit allows per window.
    pub allowed: u64,
    /// What it counts, for people: `calls a minute`, `tokens a day`, ...
    pub unit: &'static str,
    /// When the window is over and the budget is there again.
    pub retry_after: Duration,
}

/// Counts each user's Claude calls and enforces their budget.
#[async_trait::async_trait]
pub trait UsageMeter: Send + Sync {
    /// Whether `user` may make another call for `purpose` now (nothing is counted).
    async fn check(&self, user: Uuid, purpose: &'static str) -> Result<(), BudgetExceeded>;

    /// Lets a call through when the budget allows, counting it at once.
    async fn admit(&self, user: Uuid, purpose: &'static str) -> Result<(), BudgetExceeded>;

    /// Counts one call the API answered, with the tokens it used. Never fails: what cannot be
    /// counted is logged.
    async fn record(&self, user: Uuid, purpose: &'static str, usage: Usage);
}

/// A meter and the call it counts.
#[derive(Clone)]
pub(super) struct Metered {
    pub meter: Arc<dyn UsageMeter>,
    pub user: Uuid,
    pub purpose: &'static str,
}

/// Counts a streamed answer once it is over: when it ends, fails, or is dropped by a caller
/// who went away (the tokens were used all the same).
pub(super) fn count_stream(stream: MessageStream, purpose: &'static str, metered: Option<Metered>) -> MessageStream {
    Box::pin(CountedStream { inner: stream, purpose, metered, usage: Usage::default(), counted: false })
}

struct CountedStream {
    inner: MessageStream,
    purpose: &'static str,
    metered: Option<Metered>,
    usage: Usage,
    counted: bool,
}

impl CountedStream {
    fn observe(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::MessageStart { message } => self.usage = message.usage,
            StreamEvent::MessageDelta { usage: Some(usage), .. } => {
                let current = &mut self.usage;
                current.input_tokens = usage.input_tokens.unwrap_or(current.input_tokens);
                current.output_tokens = usage.output_tokens.unwrap_or(current.output_tokens);
                current.cache_creation_input_tokens =
                    usage.cache_creation_input_tokens.unwrap_or(current.cache_creation_input_tokens);
                current.cache_read_input_tokens =
                    usage.cache_read_input_tokens.unwrap_or(current.cache_read_input_tokens);
            }
            _ => {}
        }
    }

    fn count(&mut self) {
        if std::mem::replace(&mut self.counted, true) {
            return;
        }
        super::record_usage(self.purpose, &self.usage);
        let Some(Metered { meter, user, purpose }) = self.metered.take() else { return };
        let usage = self.usage;
        // Dropped outside a runtime only at process exit, when nothing is counted any more.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { meter.record(user, purpose, usage).await });
        }
    }
}

impl Stream for CountedStream {
    type Item = Result<StreamEvent, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(event))) => {
                let stop = matches!(event, StreamEvent::MessageStop);
                self.observe(event);
                if stop {
                    self.count();
                }
            }
            Poll::Ready(Some(Err(_)) | None) => self.count(),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.count();
    }
}
