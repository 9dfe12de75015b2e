use async_graphql::{Context, Subscription};
use futures::Stream;

use super::ContextExt as _;
use super::connection::parse_id;
use super::types::{ChatEvent, ChatInput};
use crate::services::chat;

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
        Ok(futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|event| (ChatEvent::from(event), receiver))
        }))
    }
}
