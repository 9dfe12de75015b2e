#!/usr/bin/env bash
# Refreshes GraphiQL's pinned browser assets in web/vendor/ from the npm registry, so the server
# serves them from its own binary (no CDN, works offline) and a review sees exactly what changed.
#
#   scripts/update-graphiql.sh                 # the versions pinned below
#   GRAPHIQL_VERSION=4.1.2 scripts/update-graphiql.sh
#
# `npm pack` checks each tarball against the registry's integrity hash; the hashes are written
# to web/vendor/VERSIONS and the copied files' SHA-256 to web/vendor/SHA256SUMS, which a test
# compares with the files the binary embeds.
#
# GraphiQL 4 is the last major with a self-contained UMD build (graphql-ws bundled; 5 moved to
# Monaco, ESM and web workers), and its UMD build needs React 18's UMD builds (19 has none).
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL_VERSION="${GRAPHIQL_VERSION:-4.1.2}"
REACT_VERSION="${REACT_VERSION:-18.3.1}"
vendor=web/vendor

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

packages=("graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION")
(cd "$work" && npm pack --silent --json "${packages[@]}" > pack.json)
for tarball in "$work"/*.tgz; do
  name=$(basename "$tarball" .tgz)
  mkdir -p "$work/$name"
  tar xzf "$tarball" -C "$work/$name"
done

rm -rf "$vendor"
mkdir -p "$vendor"
cp "$work/graphiql-$GRAPHIQL_VERSION/package/graphiql.min.js" "$vendor/graphiql.min.js"
cp "$work/graphiql-$GRAPHIQL_VERSION/package/graphiql.min.css" "$vendor/graphiql.min.css"
cp "$work/react-$REACT_VERSION/package/umd/react.production.min.js" "$vendor/react.production.min.js"
cp "$work/react-dom-$REACT_VERSION/package/umd/react-dom.production.min.js" "$vendor/react-dom.production.min.js"
cp "$work/graphiql-$GRAPHIQL_VERSION/package/LICENSE" "$vendor/LICENSE.graphiql"
cp "$work/react-$REACT_VERSION/package/LICENSE" "$vendor/LICENSE.react"
# The source maps are not shipped: drop the comment that would make devtools ask for them.
sed -i '/^\/\/# sourceMappingURL=/d; s|//# sourceMappingURL=[^ ]*$||' "$vendor"/*.min.js
sed -i 's|/\*# sourceMappingURL=[^*]*\*/||' "$vendor/graphiql.min.css"

node -e '
  const packs = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log("# npm packages the files in this folder come from (scripts/update-graphiql.sh)");
  for (const p of packs) console.log(`${p.id} ${p.integrity}`);
' "$work/pack.json" > "$vendor/VERSIONS"
(cd "$vendor" && sha256sum graphiql.min.js graphiql.min.css react.production.min.js react-dom.production.min.js > SHA256SUMS)

cat "$vendor/VERSIONS"
cat "$vendor/SHA256SUMS"
