//! The layering holds itself: every module of `src/` may import only the modules below it, so the
//! dependency graph has no cycles and the domain never reaches up into GraphQL or HTTP. A wrong-way
//! import fails this test with the file, the import and the rule it breaks (README, Architecture).

use std::path::{Path, PathBuf};

/// Modules from the bottom up. A module may import its own submodules and any module of a lower
/// rank; never one of its rank or above.
const LAYERS: &[(&str, u8)] = &[
    ("config", 0),
    ("telemetry", 1),
    ("llm", 1),
    ("error", 2),
    ("db", 3),
    ("embed", 3),
    ("store", 4),
    ("state", 5),
    ("services::validate", 6),
    ("services::account", 7),
    ("services::memory", 8),
    ("services::learning", 9),
    ("services::chat", 10),
    ("graphql", 11),
    ("http", 12),
    ("startup", 13),
];

/// The layer a module path (`services::chat::turn`) belongs to: its longest listed prefix.
fn layer(module: &str) -> Option<(&'static str, u8)> {
    LAYERS
        .iter()
        .filter(|(name, _)| module == *name || module.starts_with(&format!("{name}::")))
        .max_by_key(|(name, _)| name.len())
        .copied()
}

/// `src/services/chat/turn.rs` -> `services::chat::turn`; `mod.rs` names its folder.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Every module path a source text names through `crate::`, brace groups included
/// (`crate::{db, store::Turn}` names `db` and `store::Turn`).
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (start, _) in text.match_indices("crate::") {
        // `assistant::` in doc examples is not ours; `$crate::` in macros is not a module import.
        if text[..start].ends_with('$') {
            continue;
        }
        collect(&text[start + "crate::".len()..], String::new(), &mut found);
    }
    found
}

fn collect(rest: &str, prefix: String, found: &mut Vec<String>) {
    let ident: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let after = &rest[ident.len()..];
    if ident.is_empty() {
        if let Some(group) = after.strip_prefix('{') {
            for item in split_top_level(group) {
                collect(item.trim(), prefix.clone(), found);
            }
        } else if !prefix.is_empty() {
            found.push(prefix);
        }
        return;
    }
    let path = if prefix.is_empty() { ident } else { format!("{prefix}::{ident}") };
    match after.strip_prefix("::") {
        Some(next) => collect(next, path, found),
        None => found.push(path),
    }
}

/// The items of a brace group up to its closing brace, split at top-level commas.
fn split_top_level(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0usize, 0usize, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layering violations in the tree under `src`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let module = module_of(src, &file);
        let text = std::fs::read_to_string(&file).unwrap();
        // The crate root and `services` only declare modules (and re-export); `main` uses the
        // library by its name.
        if ["lib", "main", "services"].contains(&module.as_str()) {
            for path in crate_paths(&text) {
                wrong.push(format!("{module}: only declares modules, yet names `crate::{path}`"));
            }
            continue;
        }
        let Some((own_layer, own_rank)) = layer(&module) else {
            wrong.push(format!("{module}: this module is in no layer; add it to LAYERS and README"));
            continue;
        };
        for path in crate_paths(&text) {
            let Some((their_layer, their_rank)) = layer(&path) else {
                // Crate-root re-exports (`crate::AppState`) hide where a thing lives.
                wrong.push(format!("{module}: imports `crate::{path}`, which is in no layer"));
                continue;
            };
            if their_layer != own_layer && their_rank >= own_rank {
                wrong.push(format!(
                    "{module} ({own_layer}, rank {own_rank}) imports `crate::{path}` ({their_layer}, rank {their_rank}): \
                     a module may import only layers below its own"
                ));
            }
        }
    }
    wrong
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let wrong = violations(&src);
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_check_sees_imports_in_every_form() {
    let text = "use crate::state::AppState;\nuse crate::{db, store::{Turn, pubsub}};\nlet x = crate::graphql::build();\n\
                macro_rules! m { () => { $crate::helpers::x() } }";
    assert_eq!(crate_paths(text), ["state::AppState", "db", "store::Turn", "store::pubsub", "graphql::build"]);
    assert_eq!(layer("services::chat::turn"), Some(("services::chat", 10)));
    assert_eq!(layer("services::validate"), Some(("services::validate", 6)));
    assert_eq!(layer("nowhere"), None);
}

#[test]
fn a_wrong_way_import_is_caught() {
    let src = tempfile::tempdir().unwrap();
    let write = |path: &str, text: &str| {
        let path = src.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("services/memory/retrieval.rs", "use crate::store::search_index::Hit;\n");
    assert!(violations(src.path()).is_empty());
    write("services/memory/memories.rs", "use crate::graphql::AppSchema;\n");
    write("store/pubsub.rs", "use crate::services::chat::ChatEvent;\n");
    let wrong = violations(src.path());
    assert_eq!(wrong.len(), 2, "{wrong:?}");
    assert!(
        wrong.iter().any(|w| w.starts_with("services::memory::memories") && w.contains("crate::graphql::AppSchema"))
    );
    assert!(wrong.iter().any(|w| w.starts_with("store::pubsub") && w.contains("crate::services::chat::ChatEvent")));
}
