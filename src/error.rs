//! One error type for the whole app, mapped to a client-facing `extensions.code` in one place
//! (see `graphql::errors`). Internal details are logged there and never shown to clients.

use crate::llm::LlmError;

/// The codes clients can rely on in `errors[].extensions.code`.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const UPSTREAM_ERROR: &str = "UPSTREAM_ERROR";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    pub const INTERNAL: &str = "INTERNAL";
    /// Apollo's code for an automatic persisted query the server does not know (yet).
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// The named thing does not exist, or belongs to someone else (indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    RateLimited(String),
    /// This replica is shutting down (a redeploy): the same request to another one will work.
    #[error("the server is restarting; send it again to continue")]
    ShuttingDown,
    /// A request named an automatic persisted query by its hash alone, and the hash is unknown.
    /// The message is the exact text Apollo's clients look for before sending the query itself.
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    /// Claude failed. Shown to the client as the error's user message, never its details.
    #[error("{}", .0.user_message())]
    Upstream(#[from] LlmError),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => code::UNAUTHENTICATED,
            Self::Forbidden(_) => code::FORBIDDEN,
            Self::NotFound(_) => code::NOT_FOUND,
            Self::BadInput(_) => code::BAD_USER_INPUT,
            Self::RateLimited(_) => code::RATE_LIMITED,
            Self::PersistedQueryNotFound => code::PERSISTED_QUERY_NOT_FOUND,
            // The user's own budget, not Claude's failure: a limit like any other.
            Self::Upstream(LlmError::OverBudget(_)) => code::RATE_LIMITED,
            Self::Upstream(_) => code::UPSTREAM_ERROR,
            Self::ShuttingDown => code::UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => code::INTERNAL,
        }
    }

    /// How long to wait before the same request can work (`extensions.retryAfter`, seconds),
    /// when a limit says so.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Upstream(LlmError::OverBudget(exceeded)) => Some(exceeded.retry_after),
            _ => None,
        }
    }

    /// Whether the message is for the log only.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Database(_) | Self::Internal(_))
    }

    /// What the client is told: the message, or only "internal error" for our own failures
    /// (whoever shows one logs it with its context first).
    pub fn client_message(&self) -> String {
        if self.is_internal() { "internal error".to_owned() } else { self.to_string() }
    }

    /// Whether doing the same thing again may work: a limit that passes, Claude's transient
    /// failures, our own hiccups; never input that is wrong.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Upstream(error) => error.is_retryable(),
            Self::RateLimited(_) | Self::ShuttingDown | Self::Database(_) | Self::Internal(_) => true,
            Self::Unauthenticated(_)
            | Self::Forbidden(_)
            | Self::NotFound(_)
            | Self::BadInput(_)
            | Self::PersistedQueryNotFound => false,
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
