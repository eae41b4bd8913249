#!/usr/bin/env bash
# Vendors the chart libraries that `geepipe report` inlines into its HTML, at pinned versions, from the npm
# registry: Vega, Vega-Lite and vega-embed (UMD builds, source-map comments removed so an opened report
# never asks for a .map file), their licences, the licences of every package in their dependency tree
# (the minified builds bundle d3 and friends), and SHA256SUMS. Run it to upgrade; commit what changes.
set -euo pipefail
cd "$(dirname "$0")/.."
VEGA=6.4.0
VEGA_LITE=6.5.0
VEGA_EMBED=7.3.0
OUT="$PWD/src/report/vendor"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm init -y >/dev/null && npm install --no-audit --no-fund --ignore-scripts --omit=dev --save-exact \
  "vega@$VEGA" "vega-lite@$VEGA_LITE" "vega-embed@$VEGA_EMBED" >/dev/null)
NM="$TMP/node_modules"
mkdir -p "$OUT"
for f in vega/build/vega.min.js vega-lite/build/vega-lite.min.js vega-embed/build/vega-embed.min.js; do
  sed '/^\/\/# sourceMappingURL=/d' "$NM/$f" > "$OUT/$(basename "$f")"
done
cp "$NM/vega/LICENSE" "$OUT/LICENSE-vega"
cp "$NM/vega-lite/LICENSE" "$OUT/LICENSE-vega-lite"
cp "$NM/vega-embed/LICENSE" "$OUT/LICENSE-vega-embed"
# Every installed package (the production dependency tree of the three), with its licence text.
node - "$NM" > "$OUT/THIRD-PARTY-NOTICES.txt" <<'JS'
const fs = require("fs"), path = require("path");
const nm = process.argv[2];
const dirs = [];
for (const d of fs.readdirSync(nm).sort()) {
  if (d.startsWith(".")) continue;
  if (d.startsWith("@")) for (const s of fs.readdirSync(path.join(nm, d)).sort()) dirs.push(path.join(d, s));
  else dirs.push(d);
}
let out = "Software bundled in the chart libraries of geepipe's HTML report (installed from npm by\n" +
  "scripts/vendor-report-js.sh: vega, vega-lite, vega-embed and their dependency tree).\n";
for (const d of dirs) {
  const pj = JSON.parse(fs.readFileSync(path.join(nm, d, "package.json"), "utf8"));
  const lic = fs.readdirSync(path.join(nm, d)).find((f) => /^(licen[cs]e|copying)/i.test(f));
  out += `\n==== ${pj.name}@${pj.version} (${pj.license || "see below"}) ====\n`;
  out += lic ? fs.readFileSync(path.join(nm, d, lic), "utf8").trim() + "\n" : "(no licence file in the package)\n";
}
process.stdout.write(out);
JS
(cd "$OUT" && sha256sum vega.min.js vega-lite.min.js vega-embed.min.js > SHA256SUMS)
printf 'vega %s\nvega-lite %s\nvega-embed %s\n' "$VEGA" "$VEGA_LITE" "$VEGA_EMBED" > "$OUT/VERSIONS"
ls -l "$OUT"
