use async_graphql::{Context, Subscription};
use futures::Stream;
use tokio::sync::{broadcast, mpsc};

use super::ContextExt as _;
use super::connection::parse_id;
use super::types::{ChatEvent, ChatInput, MemoryEvent};
use crate::services::chat::{self, ChatEvent as TurnEvent};

pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Sends a message and streams the answer as Claude writes it: `ChatStarted` first, then
    /// `ChatDelta` pieces to append in order, then `ChatCompleted` or `ChatFailed`. Stopping the
    /// subscription (or disconnecting) stops the answer; what arrived is kept as INTERRUPTED.
    /// Over WebSocket, authenticate in the `connection_init` payload:
    /// `{"authorization": "Bearer <key>"}`.
    async fn chat(
        &self,
        ctx: &Context<'_>,
        input: ChatInput,
    ) -> async_graphql::Result<impl Stream<Item = ChatEvent> + use<>> {
        let conversation_id = parse_id("conversationId", &input.conversation_id)?;
        let user_id = ctx.user_id()?;
        let receiver = chat::start_turn(ctx.state(), user_id, conversation_id, &input.message).await?;
        Ok(futures::stream::unfold((receiver, None), |(mut receiver, held)| async move {
            let event = match held {
                Some(event) => event,
                None => receiver.recv().await?,
            };
            let (event, held) = coalesce(event, &mut receiver);
            Some((ChatEvent::from(event), (receiver, held)))
        }))
    }

    /// The caller's memories as they change: added, updated or removed, whether by the caller's
    /// mutations or by what the assistant learned in a conversation.
    async fn memory_events(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = MemoryEvent> + use<>> {
        let user_id = ctx.user_id()?;
        let receiver = ctx.state().memory_events.subscribe();
        Ok(futures::stream::unfold(receiver, move |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) if event.user_id == user_id => return Some((MemoryEvent::from(event), receiver)),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(user = %user_id, missed, "a memoryEvents subscriber fell behind; events skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }))
    }
}

/// Deltas already waiting behind a delta go out as one: a client that falls behind (or a burst
/// from upstream) costs one message instead of many, and nothing waits that was not already late.
/// Returns the event to send and the next one, if reading ahead found a non-delta.
fn coalesce(event: TurnEvent, receiver: &mut mpsc::Receiver<TurnEvent>) -> (TurnEvent, Option<TurnEvent>) {
    let TurnEvent::Delta(mut text) = event else { return (event, None) };
    while let Ok(next) = receiver.try_recv() {
        match next {
            TurnEvent::Delta(more) => text.push_str(&more),
            other => return (TurnEvent::Delta(text), Some(other)),
        }
    }
    (TurnEvent::Delta(text), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_deltas_are_joined_and_order_is_kept() {
        let (sender, mut receiver) = mpsc::channel(8);
        for piece in ["b", "c"] {
            sender.send(TurnEvent::Delta(piece.into())).await.unwrap();
        }
        sender.send(TurnEvent::Failed { error: crate::error::AppError::bad_input("m"), partial: None }).await.unwrap();
        let (event, held) = coalesce(TurnEvent::Delta("a".into()), &mut receiver);
        assert!(matches!(event, TurnEvent::Delta(text) if text == "abc"));
        assert!(matches!(held, Some(TurnEvent::Failed { .. })));
        let (event, held) = coalesce(TurnEvent::Delta("z".into()), &mut receiver);
        assert!(matches!(event, TurnEvent::Delta(text) if text == "z"));
        assert!(held.is_none());
    }
}
