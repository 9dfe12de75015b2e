//! Claude through the Anthropic Messages API: request types, the streamed events decoded into
//! typed Rust, typed errors, and retries the way the official SDKs do them.

mod client;
mod error;
mod events;
mod retry;
mod types;
mod usage;

pub use client::{AnthropicClient, MessageStream};
pub use error::{ApiErrorKind, LlmError};
pub use events::{Accumulated, ContentBlock, Delta, MessageAccumulator, StreamEvent, ToolCall};
pub use retry::RetryPolicy;
pub use types::{
    CacheControl, ChatMessage, CompletedMessage, InputBlock, MessageContent, MessagesRequest, Role, SystemBlock, Tool,
    ToolChoice, Usage,
};
pub use usage::{BudgetExceeded, UsageMeter};

/// Counts the tokens a call used, by purpose and kind (input, output, cache read, cache write).
pub fn record_usage(purpose: &'static str, usage: &Usage) {
    let kinds = [
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cache_read", usage.cache_read_input_tokens),
        ("cache_write", usage.cache_creation_input_tokens),
    ];
    for (kind, tokens) in kinds {
        metrics::counter!("claude_tokens_total", "purpose" => purpose, "kind" => kind).increment(tokens);
    }
}
