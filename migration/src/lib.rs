//! Schema migrations. The server applies them at start; the CLI
//! (`cargo run -p migration --features cli -- status|up|down|fresh`) is for operators.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_initial;
mod m20261125_000002_conversation_summary_through;
mod m20261125_000003_user_memory_revision;
mod m20261125_000004_learning;
mod m20261201_000005_claude_usage;
mod m20261201_000006_message_tool_calls;
mod m20261201_000007_learning_order;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial::Migration),
            Box::new(m20261125_000002_conversation_summary_through::Migration),
            Box::new(m20261125_000003_user_memory_revision::Migration),
            Box::new(m20261125_000004_learning::Migration),
            Box::new(m20261201_000005_claude_usage::Migration),
            Box::new(m20261201_000006_message_tool_calls::Migration),
            Box::new(m20261201_000007_learning_order::Migration),
        ]
    }
}
