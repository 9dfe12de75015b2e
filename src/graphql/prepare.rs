//! What every request goes through before it is validated and run, on every transport: its
//! persisted query resolved, its required variables checked, its costliest fields counted; and
//! after it ran, its response size checked. One extension for all of it, because each extension
//! adds a layer to every field resolved afterwards, a streamed chat delta's too.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, Response, ServerError, ServerResult, Variables};

use super::{persisted_queries, variables};
use crate::state::AppState;

/// Root fields that each cost a whole request's worth (a full export; a Claude answer with
/// everything learned from it afterwards): one of each per request, however aliased.
pub const ONCE_PER_REQUEST: &[&str] = &["exportMyData", "sendMessage"];

pub struct PrepareRequest;

impl ExtensionFactory for PrepareRequest {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PrepareRequestExtension)
    }
}

struct PrepareRequestExtension;

#[async_trait::async_trait]
impl Extension for PrepareRequestExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        let Some(limit) = ctx.data_opt::<AppState>().map(|state| state.config.limits.max_response_bytes) else {
            return response;
        };
        if serialized_len_exceeds(&response.data, limit) {
            tracing::warn!(limit, "a response over the size limit was refused");
            return Response::from_errors(vec![ServerError::new(
                format!(
                    "the response would be larger than {limit} bytes (GRAPHQL_MAX_RESPONSE_BYTES); ask for less: \
                     smaller pages, fewer fields or aliases"
                ),
                None,
            )]);
        }
        response
    }

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

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        for (_, operation) in document.operations.iter() {
            for field in ONCE_PER_REQUEST {
                let mut seen = HashSet::new();
                if root_fields_named(&document, &operation.node.selection_set.node, field, &mut seen) > 1 {
                    // No source: `ErrorCodes` reports it as BAD_USER_INPUT, like any refused query.
                    return Err(ServerError::new(
                        format!("`{field}` may be asked for at most once per request; send one request for each"),
                        Some(operation.pos),
                    ));
                }
            }
        }
        Ok(document)
    }
}

/// How often `name` is selected at the root of `set`, through fragments too (each fragment
/// followed once, so a cycle, refused later by validation, cannot loop here).
fn root_fields_named<'d>(
    document: &'d ExecutableDocument,
    set: &'d SelectionSet,
    name: &str,
    seen: &mut HashSet<&'d str>,
) -> usize {
    set.items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => usize::from(field.node.name.node.as_str() == name),
            Selection::InlineFragment(fragment) => {
                root_fields_named(document, &fragment.node.selection_set.node, name, seen)
            }
            Selection::FragmentSpread(spread) => {
                let fragment_name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if seen.insert(fragment_name) => {
                        root_fields_named(document, &fragment.node.selection_set.node, name, seen)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

/// Whether `value` serialises to more than `limit` bytes, found without keeping the text: the
/// writer gives up as soon as the limit is passed.
fn serialized_len_exceeds(value: &impl serde::Serialize, limit: usize) -> bool {
    struct Counter {
        written: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written += buf.len();
            if self.written > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { written: 0, limit };
    serde_json::to_writer(&mut counter, value).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_measured_up_to_the_limit() {
        let value = serde_json::json!({ "text": "x".repeat(100) });
        assert!(!serialized_len_exceeds(&value, 1000));
        assert!(serialized_len_exceeds(&value, 50));
    }
}
