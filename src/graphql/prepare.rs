//! What every request goes through before it is validated and run, on every transport: its
//! persisted query resolved, its required variables checked. One extension for both, because
//! each extension adds a layer to every field resolved afterwards, a streamed chat delta's too.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::{Request, ServerError, ServerResult};

use super::{persisted_queries, variables};
use crate::state::AppState;

pub struct PrepareRequest;

impl ExtensionFactory for PrepareRequest {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PrepareRequestExtension)
    }
}

struct PrepareRequestExtension;

#[async_trait::async_trait]
impl Extension for PrepareRequestExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let mut request = match ctx.data_opt::<AppState>() {
            Some(state) => persisted_queries::resolve(state, request).await.map_err(|error| {
                let mut server_error = ServerError::new(error.to_string(), None);
                // Classified (code, client message) by `ErrorCodes` like every other error.
                server_error.source = Some(Arc::new(error));
                server_error
            })?,
            None => request,
        };
        // async-graphql reports one error of this hook; the first missing variable is enough.
        if let Some(error) = variables::unprovided_in(&mut request).into_iter().next() {
            return Err(error);
        }
        next.run(ctx, request).await
    }
}
