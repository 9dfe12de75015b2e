//! Variable coercion before execution: a required variable (non-null, no default) that is missing
//! or null fails the whole request, which then has no `data`, as the GraphQL spec says
//! (async-graphql on its own notices only when a resolver reads it, as a field error). Values of
//! the wrong type are caught by validation. This runs just before validation rather than just
//! after it: a request that fails both reports the variable first; both are request errors.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument};
use async_graphql::{Request, ServerError, Value, Variables};

/// The errors for the required variables `request` leaves out or sets to null. Parses the
/// document once for the whole request (the parse is kept in it); a document that does not
/// parse is left for the execution to report.
pub fn unprovided_in(request: &mut Request) -> Vec<ServerError> {
    let operation_name = request.operation_name.clone();
    let variables = std::mem::take(&mut request.variables);
    let errors = match request.parsed_query() {
        Ok(document) => unprovided(document, operation_name.as_deref(), &variables),
        Err(_) => Vec::new(),
    };
    request.variables = variables;
    errors
}

/// The required variables of the operation to run that `variables` leaves out or sets to null.
fn unprovided(document: &ExecutableDocument, operation_name: Option<&str>, variables: &Variables) -> Vec<ServerError> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(wanted)) => {
            match operations.iter().find(|(name, _)| name.as_str() == wanted) {
                Some((_, operation)) => operation,
                None => return Vec::new(),
            }
        }
        // Which operation runs is for execution to settle (and report).
        (DocumentOperations::Multiple(_), None) => return Vec::new(),
    };
    operation
        .node
        .variable_definitions
        .iter()
        .filter(|definition| !definition.node.var_type.node.nullable && definition.node.default_value.is_none())
        .filter_map(|definition| {
            let name = &definition.node.name.node;
            let ty = &definition.node.var_type.node;
            let message = match variables.get(name) {
                None => format!("Variable \"${name}\" of required type \"{ty}\" was not provided."),
                Some(Value::Null) => format!("Variable \"${name}\" of non-null type \"{ty}\" must not be null."),
                Some(_) => return None,
            };
            Some(ServerError::new(message, Some(definition.pos)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(query: &str, operation: Option<&str>, variables: serde_json::Value) -> Vec<String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        unprovided(&document, operation, &Variables::from_json(variables)).into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn required_variables_must_be_provided_and_not_null() {
        let query = "query($id: ID!, $n: Int, $d: Int! = 3) { a }";
        assert_eq!(check(query, None, serde_json::json!({ "id": "1" })), Vec::<String>::new());
        assert_eq!(
            check(query, None, serde_json::json!({})),
            ["Variable \"$id\" of required type \"ID!\" was not provided."]
        );
        assert_eq!(
            check(query, None, serde_json::json!({ "id": null })),
            ["Variable \"$id\" of non-null type \"ID!\" must not be null."]
        );
        let two = "query A($x: ID!) { a } query B { b }";
        assert_eq!(check(two, Some("B"), serde_json::json!({})), Vec::<String>::new());
        assert_eq!(check(two, Some("A"), serde_json::json!({})).len(), 1);
    }
}
