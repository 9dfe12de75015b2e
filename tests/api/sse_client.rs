//! A raw GraphQL-over-SSE client for tests and the chat bench: one streaming HTTP request, its
//! bytes cut into events by hand (`event:` and `data:` lines, a blank line between events), so
//! the wire format itself is what is checked.

use serde_json::{Value, json};

/// One server-sent event: its `event:` name and its `data:` lines joined.
#[derive(Debug)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    /// The event as it came, blank line included.
    pub raw: String,
}

pub struct EventStream {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl EventStream {
    /// `POST /graphql` with `Accept: text/event-stream`; panics unless the answer is a stream.
    pub async fn subscribe(
        client: &reqwest::Client,
        port: u16,
        key: Option<&str>,
        query: &str,
        variables: Value,
    ) -> Self {
        let mut request = client
            .post(format!("http://127.0.0.1:{port}/graphql"))
            .header("accept", "text/event-stream")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("send the SSE request");
        assert_eq!(response.status(), 200, "SSE answer status");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("text/event-stream"), "content type {content_type}");
        Self { response, buffer: Vec::new() }
    }

    /// The next event (comments skipped); `None` when the server ended the response.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let text = String::from_utf8(block).expect("events are UTF-8");
                let (mut event, mut data) = (String::new(), Vec::new());
                for line in text.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = name.trim_start().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                    }
                }
                if event.is_empty() && data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                return Some(SseEvent { event, data: data.join("\n"), raw: text });
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next result of the operation (the JSON of a `next` event); `None` after `complete`.
    pub async fn next_result(&mut self) -> Option<Value> {
        let event = self.next_event().await.expect("the stream ended without a complete event");
        match event.event.as_str() {
            "next" => Some(serde_json::from_str(&event.data).expect("next carries JSON")),
            "complete" => None,
            other => panic!("unexpected event {other:?}: {event:?}"),
        }
    }

    /// Closes the request, as a client that goes away does.
    pub fn close(self) {
        drop(self.response);
    }
}
