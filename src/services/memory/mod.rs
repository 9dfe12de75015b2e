//! Long-term memories: stored with their history (`memories`) and found again by meaning and
//! words (`retrieval`).

pub mod memories;
pub mod retrieval;
