//! What can go wrong talking to Claude, typed so callers can tell a user what happened and
//! whether trying again may help.

use std::time::Duration;

/// The `error.type` values the API documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    InvalidRequest,
    Authentication,
    Billing,
    Permission,
    NotFound,
    RequestTooLarge,
    RateLimit,
    Api,
    Timeout,
    Overloaded,
    Other,
}

impl ApiErrorKind {
    pub fn from_type(kind: &str) -> Self {
        match kind {
            "invalid_request_error" => Self::InvalidRequest,
            "authentication_error" => Self::Authentication,
            "billing_error" => Self::Billing,
            "permission_error" => Self::Permission,
            "not_found_error" => Self::NotFound,
            "request_too_large" => Self::RequestTooLarge,
            "rate_limit_error" => Self::RateLimit,
            "api_error" => Self::Api,
            "timeout_error" => Self::Timeout,
            "overloaded_error" => Self::Overloaded,
            _ => Self::Other,
        }
    }

    /// The kind a bare HTTP status implies, when the body says nothing usable.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => Self::InvalidRequest,
            401 => Self::Authentication,
            402 => Self::Billing,
            403 => Self::Permission,
            404 => Self::NotFound,
            413 => Self::RequestTooLarge,
            429 => Self::RateLimit,
            504 => Self::Timeout,
            529 => Self::Overloaded,
            500..=599 => Self::Api,
            _ => Self::Other,
        }
    }

    /// Whether the same request may succeed later.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::RateLimit | Self::Api | Self::Timeout | Self::Overloaded)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("Claude is not configured on this server (ANTHROPIC_API_KEY is not set)")]
    NotConfigured,
    /// The API answered with an error, before or during the stream.
    #[error("Claude API error ({kind:?}, HTTP {status:?}): {message}")]
    Api {
        kind: ApiErrorKind,
        status: Option<u16>,
        message: String,
        request_id: Option<String>,
        /// How long the API asked us to wait, when it said.
        retry_after: Option<Duration>,
        /// The API's `x-should-retry` verdict, when given.
        should_retry: Option<bool>,
    },
    #[error("could not reach the Claude API: {0}")]
    Connection(#[source] reqwest::Error),
    #[error("the Claude stream broke: {0}")]
    Stream(String),
    /// The stream ended without `message_stop`: the answer is incomplete.
    #[error("the Claude stream ended before the answer was complete")]
    Incomplete,
    #[error("unexpected reply from the Claude API: {0}")]
    Decode(String),
    /// The user's Claude budget is spent: the call was not made.
    #[error("over the Claude budget {}", .0.limit)]
    OverBudget(super::BudgetExceeded),
}

impl ApiErrorKind {
    /// The kind as a metrics label.
    pub fn label(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Authentication => "authentication",
            Self::Billing => "billing",
            Self::Permission => "permission",
            Self::NotFound => "not_found",
            Self::RequestTooLarge => "request_too_large",
            Self::RateLimit => "rate_limit",
            Self::Api => "api",
            Self::Timeout => "timeout",
            Self::Overloaded => "overloaded",
            Self::Other => "other",
        }
    }
}

impl LlmError {
    /// What kind of failure, as a metrics label.
    pub fn kind_label(&self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::Api { kind, .. } => kind.label(),
            Self::Connection(_) => "connection",
            Self::Stream(_) => "stream",
            Self::Incomplete => "incomplete",
            Self::Decode(_) => "decode",
            Self::OverBudget(_) => "over_budget",
        }
    }

    /// Whether a user may reasonably try the same thing again later. An overload or a rate limit
    /// passes even when the API says not to retry this request now (`x-should-retry: false`).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::NotConfigured | Self::Decode(_) => false,
            Self::Api { kind, should_retry, .. } => kind.is_transient() || *should_retry == Some(true),
            Self::Connection(_) | Self::Stream(_) | Self::Incomplete | Self::OverBudget(_) => true,
        }
    }

    /// Whether the client should send the same request again now, by itself: the API's
    /// `x-should-retry` verdict when it gave one, else whether the failure is transient.
    pub fn should_retry_now(&self) -> bool {
        match self {
            Self::Api { kind, should_retry, .. } => should_retry.unwrap_or(kind.is_transient()),
            Self::OverBudget(_) => false,
            other => other.is_retryable(),
        }
    }

    /// A message for the person using the app: no internals, no request ids.
    pub fn user_message(&self) -> String {
        match self {
            Self::NotConfigured => self.to_string(),
            Self::Api { kind, .. } => match kind {
                ApiErrorKind::RateLimit => "Claude is rate-limiting this server; try again shortly".into(),
                ApiErrorKind::Overloaded => "Claude is overloaded right now; try again shortly".into(),
                ApiErrorKind::Api | ApiErrorKind::Timeout => "Claude had an internal error; try again".into(),
                ApiErrorKind::Authentication | ApiErrorKind::Permission | ApiErrorKind::Billing => {
                    "this server's Claude credentials were refused; tell the operator".into()
                }
                ApiErrorKind::RequestTooLarge => "the conversation is too large for Claude".into(),
                ApiErrorKind::InvalidRequest | ApiErrorKind::NotFound | ApiErrorKind::Other => {
                    "Claude refused the request".into()
                }
            },
            Self::Connection(_) => "could not reach Claude; try again".into(),
            Self::Stream(_) | Self::Incomplete => "the answer from Claude was cut off; try again".into(),
            Self::Decode(_) => "Claude sent a reply this server does not understand".into(),
            Self::OverBudget(exceeded) => format!(
                "you have used your Claude budget ({} {} on this server); try again in {} seconds",
                exceeded.allowed,
                exceeded.unit,
                exceeded.retry_after.as_secs().max(1)
            ),
        }
    }
}
