#!/usr/bin/env bash
# Refreshes the vendored axe-core (axe.min.js) from the npm registry.
#
#   internal/browser/testdata/update-axe.sh [VERSION]
#
# VERSION defaults to the latest release. The script installs the package
# with npm into a temporary directory, copies its dist file and licence
# here, and records the version in AXE_VERSION. axe-core is licensed under
# the Mozilla Public License 2.0 (LICENSE-axe-core.txt); it is used only by
# the browser tests and is never embedded in the activitylog binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="${1:-latest}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts "axe-core@${version}" >/dev/null
pkg="$tmp/node_modules/axe-core"
cp "$pkg/axe.min.js" "$here/axe.min.js"
cp "$pkg/LICENSE" "$here/LICENSE-axe-core.txt"
node -e 'const p=require(process.argv[1]); console.log(p.version + " " + p.license)' "$pkg/package.json" > "$here/AXE_VERSION"
echo "axe-core $(cat "$here/AXE_VERSION") -> $here/axe.min.js"
