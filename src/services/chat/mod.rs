//! A chat turn, from the user's message to the stored answer: conversations, the turn itself
//! (`turn`), the context Claude is given (`context`), the short-term window (`window`) and the
//! running summary of what left it (`summary`).

pub mod context;
pub mod conversations;
pub mod summary;
pub mod turn;
pub mod window;

pub use turn::{ChatEvent, recover_abandoned_answers, send_message, start_turn, validate_message};
