//! Learning from the user, off the hot path: after each message (`observe`): memories
//! (`extraction`), preferences, the style profile and patterns, read from the text by `signals`;
//! after each rating (`feedback`).

pub mod extraction;
pub mod feedback;
pub mod observe;
pub mod order;
pub mod patterns;
pub mod preferences;
pub mod signals;
pub mod style;
