//! What we send to the Messages API, and the non-streamed answer.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// A message of the conversation sent to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: MessageContent,
}

impl ChatMessage {
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self { role, content: MessageContent::Text(text.into()) }
    }

    pub fn blocks(role: Role, blocks: Vec<InputBlock>) -> Self {
        Self { role, content: MessageContent::Blocks(blocks) }
    }
}

/// A message's content: plain text (the conversation), or blocks (a tool round: the answer's
/// `tool_use` blocks, then the `tool_result`s sent back).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Blocks(Vec<InputBlock>),
}

impl MessageContent {
    /// The text a person would read: the text itself, or the text blocks joined.
    pub fn text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Blocks(blocks) => blocks
                .iter()
                .filter_map(|b| match b {
                    InputBlock::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect(),
        }
    }
}

/// A content block of a message sent to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputBlock {
    Text {
        text: String,
    },
    /// A tool call of an earlier answer, sent back as it was made.
    ToolUse {
        id: String,
        name: String,
        input: serde_json::Value,
    },
    /// What a tool call gave, for the model to go on with.
    ToolResult {
        tool_use_id: String,
        content: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

/// Marks the end of a prompt prefix Anthropic may cache.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheControl {
    #[serde(rename = "type")]
    pub kind: String,
}

impl CacheControl {
    pub fn ephemeral() -> Self {
        Self { kind: "ephemeral".into() }
    }
}

/// One text block of the system prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemBlock {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

impl SystemBlock {
    pub fn text(text: impl Into<String>) -> Self {
        Self { kind: "text".into(), text: text.into(), cache_control: None }
    }

    pub fn cached(mut self) -> Self {
        self.cache_control = Some(CacheControl::ephemeral());
        self
    }
}

/// A tool the model may call (memory extraction, the chat's memory tools).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub description: String,
    pub input_schema: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

impl Tool {
    pub fn new(name: impl Into<String>, description: impl Into<String>, input_schema: serde_json::Value) -> Self {
        Self { name: name.into(), description: description.into(), input_schema, cache_control: None }
    }

    /// Marks the end of the tool definitions as a prefix Anthropic may cache.
    pub fn cached(mut self) -> Self {
        self.cache_control = Some(CacheControl::ephemeral());
        self
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ToolChoice {
    Auto,
    Any,
    Tool { name: String },
    None,
}

/// A Messages API request. `stream` is set by the client method used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MessagesRequest {
    pub model: String,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    pub messages: Vec<ChatMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// An opaque id of the end user (never personal data), for Anthropic's abuse detection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// What the call is for (`chat`, `extraction`, `summary`): a metrics label, never sent.
    #[serde(skip)]
    pub purpose: &'static str,
    /// Whose call this is: the client checks their Claude budget before the call and counts it
    /// in their usage after. Never sent.
    #[serde(skip)]
    pub user: Option<uuid::Uuid>,
}

impl MessagesRequest {
    pub fn new(model: impl Into<String>, max_tokens: u32, messages: Vec<ChatMessage>) -> Self {
        Self {
            model: model.into(),
            max_tokens,
            system: Vec::new(),
            messages,
            tools: Vec::new(),
            tool_choice: None,
            temperature: None,
            metadata: None,
            purpose: "chat",
            user: None,
        }
    }
}

/// Token counts. In a stream they are cumulative: each report overwrites the last.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
}

/// A whole answer, streamed or not.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CompletedMessage {
    pub id: String,
    pub model: String,
    pub text: String,
    pub tool_calls: Vec<super::ToolCall>,
    pub stop_reason: Option<String>,
    pub usage: Usage,
}
