//! Operation metrics: GraphQL requests by operation type and outcome, and subscriptions open.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextRequest, NextSubscribe,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};
use futures::StreamExt as _;
use futures::stream::BoxStream;

/// Schema extension that counts every operation.
pub struct OperationMetrics;

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetricsExtension { kind: Mutex::new("unknown") })
    }
}

/// One per request: remembers the operation's type once the document is parsed.
struct OperationMetricsExtension {
    kind: Mutex<&'static str>,
}

/// Keeps `subscriptions_open` right however a subscription ends.
struct OpenSubscription;

impl OpenSubscription {
    fn new() -> Self {
        metrics::gauge!("graphql_subscriptions_open").increment(1.0);
        Self
    }
}

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        metrics::gauge!("graphql_subscriptions_open").decrement(1.0);
    }
}

#[async_trait::async_trait]
impl Extension for OperationMetricsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some((_, operation)) = document.operations.iter().next() {
            let kind = match operation.node.ty {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            *self.kind.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = kind;
        }
        Ok(document)
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        let kind = *self.kind.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outcome = if response.errors.is_empty() { "ok" } else { "error" };
        metrics::counter!("graphql_requests_total", "operation" => kind, "outcome" => outcome).increment(1);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        metrics::counter!("graphql_requests_total", "operation" => "subscription", "outcome" => "started").increment(1);
        let open = OpenSubscription::new();
        next.run(ctx, stream)
            .map(move |response| {
                let _still_open = &open;
                response
            })
            .boxed()
    }
}
