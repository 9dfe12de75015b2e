//! Claude through the Anthropic Messages API: request types, the streamed events decoded into
//! typed Rust, typed errors, and retries the way the official SDKs do them.

mod client;
mod error;
mod events;
mod retry;
mod types;

pub use client::{AnthropicClient, MessageStream};
pub use error::{ApiErrorKind, LlmError};
pub use events::{Accumulated, ContentBlock, Delta, MessageAccumulator, StreamEvent, ToolCall};
pub use retry::RetryPolicy;
pub use types::{
    CacheControl, ChatMessage, CompletedMessage, MessagesRequest, Role, SystemBlock, Tool, ToolChoice, Usage,
};
