//! A chat turn, from the user's message to the stored answer: conversations, the turn itself
//! (`turn`), the context Claude is given (`context`), the short-term window (`window`) and the
//! running summary of what left it (`summary`), and Claude's memory tools (`tools`).

pub mod context;
pub mod conversations;
pub mod summary;
pub mod tools;
pub mod turn;
pub mod window;

pub use turn::{ChatEvent, ToolCallRecord, recover_abandoned_answers, send_message, start_turn, validate_message};
