#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture: the offline demo (local engine) run with
# `output.report: true`, its report opened in headless Chromium by tests/browser/check-report.cjs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/test-deps.sh
cargo build --quiet
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
sed -e "s#\.\./demo/#$ROOT/demo/#g" -e "s#\.\./results/demo-local\.csv#demo-local.csv\n  report: true#" \
  -e "s#\.\./results#.#" pipelines/demo-local.yaml > "$WORK/demo-local.yaml"
(cd "$WORK" && "$ROOT/target/debug/geepipe" run demo-local.yaml)
GEEPIPE_NODE_MODULES="$ROOT/.venv-test/node/node_modules" node tests/browser/check-report.cjs \
  "$WORK/demo-local.report.html" --pick b --screenshot "$ROOT/docs/report.png" --screenshot-height 2950 > /dev/null
echo "wrote docs/report.png"
