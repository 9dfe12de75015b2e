//! The one place where errors become what clients see: every error gets `extensions.code`,
//! internal ones are logged with their detail and shown only as "internal error".

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe};
use async_graphql::{Response, ServerError};
use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::error::{AppError, code};

/// Schema extension that classifies every error in every response.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        classify_all(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream).map(classify_all).boxed()
    }
}

fn classify_all(mut response: Response) -> Response {
    for error in &mut response.errors {
        classify(error);
    }
    response
}

fn classify(error: &mut ServerError) {
    if error.extensions.as_ref().is_some_and(|ext| ext.get("code").is_some()) {
        return;
    }
    let code = match error.source::<AppError>() {
        Some(app_error) => {
            if app_error.is_internal() {
                tracing::error!(error = format!("{app_error:#}"), path = ?error.path, "request failed");
            }
            let (message, code, wait) = (app_error.client_message(), app_error.code(), app_error.retry_after());
            error.message = message;
            if let Some(wait) = wait {
                error.extensions.get_or_insert_with(Default::default).set("retryAfter", retry_after_seconds(wait));
            }
            code
        }
        // Any other error that came out of a resolver is a bug of ours: hide it.
        None if error.source.is_some() => {
            tracing::error!(error = %error.message, path = ?error.path, "request failed with an unclassified error");
            error.message = "internal error".into();
            code::INTERNAL
        }
        // No source: async-graphql itself refused the request (syntax, validation, a value of the
        // wrong type, limits). The message already says what is wrong with the request.
        None => code::BAD_USER_INPUT,
    };
    error.extensions.get_or_insert_with(Default::default).set("code", code);
}

/// The message a client sees for `error`; an internal one is logged here with its detail.
pub fn client_message(error: &AppError) -> String {
    if error.is_internal() {
        tracing::error!(error = format!("{error:#}"), "request failed");
    }
    error.client_message()
}

/// A whole response that carries only `error`, classified like every other.
pub fn error_response(error: AppError) -> async_graphql::Response {
    let message = client_message(&error);
    let mut server_error = ServerError::new(message, None);
    let extensions = server_error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", error.code());
    if let Some(wait) = error.retry_after() {
        extensions.set("retryAfter", retry_after_seconds(wait));
    }
    async_graphql::Response::from_errors(vec![server_error])
}

/// Whole seconds, rounded up: a client that waits this long is not refused again.
fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}
