//! Long-term memories: stored with their history (`memories`) and found again by meaning and
//! words (`retrieval`); standing conditions weighed in every piece of advice (`conditions`).

pub mod conditions;
pub mod memories;
pub mod retrieval;
