//! Relay connections over the services' keyset pages. A cursor is an opaque token made from
//! the item's id.
//!
//! The connection, edge and page-info types are ours rather than async-graphql's `Connection`:
//! its types carry no description of their own, and a client reading the schema needs to know
//! what each list holds, in which order and how to page it. The shape is Relay's, field for field.

use async_graphql::{ID, SimpleObject};
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

/// Where a page sits in its list, and the cursors to move from it.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// True when items come before this page. Paging backward (`last`), whether more are left
    /// before it; paging forward, true whenever `after` was given.
    pub has_previous_page: bool,
    /// True when items come after this page. Paging forward (`first`), whether more are left
    /// after it; paging backward, true whenever `before` was given.
    pub has_next_page: bool,
    /// The cursor of the page's first item, to pass as `before` for the page before it (null
    /// when the page is empty).
    pub start_cursor: Option<String>,
    /// The cursor of the page's last item, to pass as `after` for the next page (null when the
    /// page is empty).
    pub end_cursor: Option<String>,
}

/// One page of a list, in the list's own order.
pub struct Connection<N> {
    pub(super) edges: Vec<Edge<N>>,
    pub(super) page_info: PageInfo,
}

/// An item of a page with its cursor.
pub struct Edge<N> {
    pub(super) cursor: String,
    pub(super) node: N,
}

/// The GraphQL types of one kind of connection: `$connection` and `$edge` name them, and the
/// descriptions say what the list holds and in which order.
macro_rules! connection_types {
    ($node:ty, $connection:tt, $connection_doc:tt, $edge:tt, $edge_doc:tt) => {
        #[doc = $connection_doc]
        #[async_graphql::Object(name = $connection)]
        impl $crate::graphql::connection::Connection<$node> {
            /// Where this page sits in the list, and the cursors to move from it.
            async fn page_info(&self) -> &$crate::graphql::connection::PageInfo {
                &self.page_info
            }

            /// The page's items with their cursors, in the list's order.
            async fn edges(&self) -> &[$crate::graphql::connection::Edge<$node>] {
                &self.edges
            }

            /// The page's items without their cursors, in the list's order.
            async fn nodes(&self) -> Vec<&$node> {
                self.edges.iter().map(|edge| &edge.node).collect()
            }
        }

        #[doc = $edge_doc]
        #[async_graphql::Object(name = $edge)]
        impl $crate::graphql::connection::Edge<$node> {
            /// The item.
            async fn node(&self) -> &$node {
                &self.node
            }

            /// An opaque cursor for this item: pass it as `after` or `before` to page from here.
            async fn cursor(&self) -> &str {
                &self.cursor
            }
        }
    };
}
pub(crate) use connection_types;

/// One page of `M` rows as a connection of `N` nodes.
pub fn connection<M: Keyed, N>(page: Page<M>, to_node: impl Fn(M) -> N) -> Connection<N> {
    let edges: Vec<Edge<N>> =
        page.items.into_iter().map(|item| Edge { cursor: encode_cursor(item.key()), node: to_node(item) }).collect();
    let page_info = PageInfo {
        has_previous_page: page.has_previous_page,
        has_next_page: page.has_next_page,
        start_cursor: edges.first().map(|edge| edge.cursor.clone()),
        end_cursor: edges.last().map(|edge| edge.cursor.clone()),
    };
    Connection { edges, page_info }
}

/// Parses an `ID` argument; ids are UUIDs.
pub fn parse_id(argument: &str, id: &ID) -> AppResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::bad_input(format!("`{argument}` is not a valid id")))
}

/// The complexity of a list field: its items' cost once per item it may return, so a page of
/// 100 costs a hundred times what one item does (async-graphql counts a list as one item).
pub fn list_cost(items: Option<i32>, default: usize, child_complexity: usize) -> usize {
    let items = items.map_or(default, |n| usize::try_from(n).unwrap_or(0));
    1 + items.max(1).saturating_mul(child_complexity)
}

/// The complexity of a connection field from its Relay arguments (20 items when neither is given).
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    list_cost(first.or(last), crate::db::page::DEFAULT_PAGE_SIZE, child_complexity)
}

/// The size of a history list (`last`, 1 to 100): histories grow with every change, so a
/// client reads the latest versions rather than all of them.
pub fn history_size(last: i32) -> AppResult<u64> {
    match u64::try_from(last) {
        Ok(n) if (1..=crate::db::page::MAX_PAGE_SIZE as u64).contains(&n) => Ok(n),
        _ => Err(AppError::bad_input(format!(
            "`last` must be between 1 and {} (got {last})",
            crate::db::page::MAX_PAGE_SIZE
        ))),
    }
}
