//! Who is calling (API keys, users) and what they own as a whole (export, deletion).

pub mod auth;
pub mod privacy;
pub mod usage;
