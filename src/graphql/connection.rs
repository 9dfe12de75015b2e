//! Relay connections over the services' keyset pages. A cursor is an opaque token made from
//! the item's id.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{ID, OutputType};
use base64::Engine as _;
use uuid::Uuid;

use crate::db::page::{Page, PageRequest};
use crate::error::{AppError, AppResult};

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn encode_cursor(id: Uuid) -> String {
    ENGINE.encode(id.as_bytes())
}

fn decode_cursor(argument: &str, cursor: &str) -> AppResult<Uuid> {
    ENGINE
        .decode(cursor)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::bad_input(format!("`{argument}` is not a cursor returned by this API")))
}

/// The four Relay arguments as the client sent them.
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    pub fn decode(self) -> AppResult<PageRequest> {
        let after = self.after.as_deref().map(|c| decode_cursor("after", c)).transpose()?;
        let before = self.before.as_deref().map(|c| decode_cursor("before", c)).transpose()?;
        PageRequest::new(after, before, self.first, self.last)
    }
}

/// Items that know their own id.
pub trait Keyed {
    fn key(&self) -> Uuid;
}

macro_rules! keyed {
    ($($model:path),*) => {
        $(impl Keyed for $model {
            fn key(&self) -> Uuid {
                self.id
            }
        })*
    };
}
keyed!(entity::conversation::Model, entity::message::Model, entity::memory::Model);

pub fn connection<M: Keyed, N: OutputType>(page: Page<M>, to_node: impl Fn(M) -> N) -> Connection<String, N> {
    let mut connection = Connection::new(page.has_previous_page, page.has_next_page);
    connection.edges.extend(page.items.into_iter().map(|item| Edge::new(encode_cursor(item.key()), to_node(item))));
    connection
}

/// Parses an `ID` argument; ids are UUIDs.
pub fn parse_id(argument: &str, id: &ID) -> AppResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::bad_input(format!("`{argument}` is not a valid id")))
}
