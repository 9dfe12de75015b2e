//! The events of a streamed answer, decoded leniently: unknown event, block and delta types are
//! kept as `Unknown` and ignored, so new API features never break a stream.

use serde::Deserialize;

use super::types::{CompletedMessage, Usage};

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        index: usize,
        content_block: ContentBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: Delta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<PartialUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MessageStart {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub usage: Usage,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    Thinking,
    RedactedThinking,
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Delta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta,
    SignatureDelta,
    CitationsDelta,
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MessageDeltaBody {
    #[serde(default)]
    pub stop_reason: Option<String>,
}

/// The usage fields a `message_delta` carries; each one present replaces the running value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
pub struct PartialUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// A tool call the model made, with its input parsed once the block ended (a string when it was
/// not JSON).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: serde_json::Value,
}

enum Block {
    Text,
    Tool { id: String, name: String, json: String },
    Other,
}

/// Folds stream events into the whole message.
#[derive(Default)]
pub struct MessageAccumulator {
    message: CompletedMessage,
    blocks: Vec<(usize, Block)>,
    stopped: bool,
}

/// What one event contributed.
pub enum Accumulated<'a> {
    /// Text to show the user now.
    Text(&'a str),
    Nothing,
}

impl MessageAccumulator {
    pub fn apply<'e>(&mut self, event: &'e StreamEvent) -> Result<Accumulated<'e>, super::LlmError> {
        match event {
            StreamEvent::MessageStart { message } => {
                self.message.id = message.id.clone();
                self.message.model = message.model.clone();
                self.message.usage = message.usage;
            }
            StreamEvent::ContentBlockStart { index, content_block } => {
                let block = match content_block {
                    ContentBlock::Text { text } => {
                        self.message.text.push_str(text);
                        Block::Text
                    }
                    ContentBlock::ToolUse { id, name } => {
                        Block::Tool { id: id.clone(), name: name.clone(), json: String::new() }
                    }
                    _ => Block::Other,
                };
                self.blocks.push((*index, block));
            }
            StreamEvent::ContentBlockDelta { index, delta } => match (self.block(*index), delta) {
                (Some(Block::Text), Delta::TextDelta { text }) => {
                    self.message.text.push_str(text);
                    return Ok(Accumulated::Text(text));
                }
                (Some(Block::Tool { json, .. }), Delta::InputJsonDelta { partial_json }) => json.push_str(partial_json),
                _ => {}
            },
            StreamEvent::ContentBlockStop { index } => {
                if let Some(Block::Tool { id, name, json }) = self.block(*index) {
                    // The first piece is often empty; a tool with no arguments sends nothing.
                    // Input that is not JSON is kept as the raw string: the tool refuses it in
                    // words the model can act on, instead of the whole answer failing.
                    let input = if json.trim().is_empty() {
                        serde_json::json!({})
                    } else {
                        serde_json::from_str(json).unwrap_or_else(|_| serde_json::Value::String(json.clone()))
                    };
                    let call = ToolCall { id: id.clone(), name: name.clone(), input };
                    self.message.tool_calls.push(call);
                }
            }
            StreamEvent::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.message.stop_reason = delta.stop_reason.clone();
                }
                if let Some(usage) = usage {
                    let current = &mut self.message.usage;
                    current.input_tokens = usage.input_tokens.unwrap_or(current.input_tokens);
                    current.output_tokens = usage.output_tokens.unwrap_or(current.output_tokens);
                    current.cache_creation_input_tokens =
                        usage.cache_creation_input_tokens.unwrap_or(current.cache_creation_input_tokens);
                    current.cache_read_input_tokens =
                        usage.cache_read_input_tokens.unwrap_or(current.cache_read_input_tokens);
                }
            }
            StreamEvent::MessageStop => self.stopped = true,
            StreamEvent::Error { error } => {
                return Err(super::LlmError::Api {
                    kind: super::ApiErrorKind::from_type(&error.kind),
                    status: None,
                    message: error.message.clone(),
                    request_id: None,
                    retry_after: None,
                    should_retry: None,
                });
            }
            StreamEvent::Ping | StreamEvent::Unknown => {}
        }
        Ok(Accumulated::Nothing)
    }

    fn block(&mut self, index: usize) -> Option<&mut Block> {
        self.blocks.iter_mut().rev().find(|(i, _)| *i == index).map(|(_, block)| block)
    }

    /// Whether `message_stop` arrived.
    pub fn is_complete(&self) -> bool {
        self.stopped
    }

    /// What has arrived so far (the partial answer, if the stream failed).
    pub fn message(&self) -> &CompletedMessage {
        &self.message
    }

    pub fn into_message(self) -> CompletedMessage {
        self.message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> StreamEvent {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_whole_stream_folds_into_text_tools_stop_reason_and_usage() {
        let events = [
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"usage":{"input_tokens":25,"output_tokens":1 }}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", wörld 🌍"}   }"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t1","name":"save","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\": "}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"some_future_event","data":1}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            r#"{"type":"message_delta","delta":{},"usage":{"output_tokens":17}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let mut acc = MessageAccumulator::default();
        let mut shown = String::new();
        for json in events {
            let event = event(json);
            if let Accumulated::Text(text) = acc.apply(&event).unwrap() {
                shown.push_str(text);
            }
        }
        assert!(acc.is_complete());
        let message = acc.into_message();
        assert_eq!(shown, "Hello, wörld 🌍");
        assert_eq!(message.text, shown);
        assert_eq!(message.stop_reason.as_deref(), Some("tool_use"));
        // Overwritten, not added: 17, not 1 + 15 + 17.
        assert_eq!(message.usage.output_tokens, 17);
        assert_eq!(message.usage.input_tokens, 25);
        assert_eq!(message.tool_calls[0].input, serde_json::json!({"a": 1}));
    }

    #[test]
    fn tool_input_that_is_not_json_is_kept_raw_instead_of_failing_the_answer() {
        let mut acc = MessageAccumulator::default();
        for json in [
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t1","name":"remember","input":{}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"content\": \"Has a sis"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
        ] {
            acc.apply(&event(json)).unwrap();
        }
        assert_eq!(acc.message().tool_calls[0].input, serde_json::json!(r#"{"content": "Has a sis"#));
    }

    #[test]
    fn an_error_event_is_a_typed_error() {
        let mut acc = MessageAccumulator::default();
        let err = acc
            .apply(&event(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#))
            .err()
            .unwrap();
        assert!(err.is_retryable());
        assert!(matches!(err, super::super::LlmError::Api { kind: super::super::ApiErrorKind::Overloaded, .. }));
    }
}
