#!/usr/bin/env bash
# Benchmark of the local engine against exactextract on the same data, in one run.
#
# Writes a SIZE × SIZE categorical GeoTIFF (tiled, Deflate) and SITES random polygons into bench-out/,
# then runs `geepipe run` (release build, all cores, and again on one thread) and exactextract (PyPI,
# reading the same GeoTIFF through rasterio) computing per-class coverage-weighted pixel counts for
# every polygon, and prints wall time and peak RSS of each with the ratios. The results of both are
# compared (total weighted pixels per class) so the timing is of the same work.
#
#   scripts/bench-local.sh            # SIZE=10000 SITES=5000
#   SIZE=4000 SITES=1000 scripts/bench-local.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-10000}
SITES=${SITES:-5000}
OUT="$PWD/bench-out/local-$SIZE-$SITES"
VENV=.venv-bench
if [ ! -f "$VENV/.geepipe-bench-v1" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "exactextract==0.3.0"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "numpy>=1.26"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "rasterio>=1.4"
  touch "$VENV/.geepipe-bench-v1"
fi
cargo build --quiet --release --bin geepipe --example bench-data
mkdir -p "$OUT"
echo "generating $SIZE × $SIZE raster and $SITES sites in $OUT ..." >&2
target/release/examples/bench-data "$OUT" "$SIZE" "$SITES"

cat > "$OUT/bench.yaml" <<YAML
name: bench
engine: local
sites: {file: sites.geojson, id: site_id}
years: [2020]
layers:
  - name: lulc
    kind: categorical
    local: lulc.tif
export: {to: local, folder: out}
output: {path: out/geepipe.csv}
YAML

cat > "$OUT/ee.py" <<'PY'
import json, sys
import rasterio
from exactextract import exact_extract
feats = json.load(open(sys.argv[1]))["features"]
with rasterio.open(sys.argv[2]) as r:
    res = exact_extract(r, feats, ["count", "unique", "frac"], include_cols=["site_id"], output="geojson")
totals = {}
with open(sys.argv[3], "w") as out:
    out.write("site_id,class_code,pixels\n")
    for f in res:
        p = f["properties"]
        for u, fr in zip(p["unique"], p["frac"]):
            px = float(fr) * float(p["count"])
            out.write(f"{p['site_id']},{int(u)},{px!r}\n")
PY

cat > "$OUT/compare.py" <<'PY'
import csv, sys
def totals(path, code_col, px_col):
    t = {}
    for row in csv.DictReader(open(path)):
        if row.get("kind", "categorical") != "categorical":
            continue
        t[row[code_col]] = t.get(row[code_col], 0.0) + float(row[px_col])
    return t
a = totals(sys.argv[1], "class_code", "pixels")
b = totals(sys.argv[2], "class_code", "pixels")
worst = max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-300) for k in b)
assert a.keys() == b.keys(), (a.keys(), b.keys())
print(f"results agree: weighted pixels per class, largest relative difference {worst:.1e}")
assert worst < 1e-6
PY

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/$label.time" "$@" > "$OUT/$label.log" 2>&1 || { cat "$OUT/$label.log"; exit 1; }
  read -r secs kb < "$OUT/$label.time"
  echo "$label $secs $kb"
}

rm -rf "$OUT/out"
r1=$(cd "$OUT" && measure geepipe "$OLDPWD/target/release/geepipe" -q run bench.yaml)
r2=$(cd "$OUT" && GEEPIPE_THREADS=1 measure geepipe-1thread "$OLDPWD/target/release/geepipe" -q run bench.yaml)
r3=$(cd "$OUT" && measure exactextract "$OLDPWD/$VENV/bin/python" ee.py sites.geojson lulc.tif ee.csv)
"$VENV/bin/python" "$OUT/compare.py" "$OUT/out/geepipe.csv" "$OUT/ee.csv"

cores=$(nproc)
printf '\n%s × %s raster (%s MB on disk), %s polygons, %s cores\n\n' "$SIZE" "$SIZE" \
  "$(du -m "$OUT/lulc.tif" | cut -f1)" "$SITES" "$cores"
printf '%-24s %10s %14s %16s\n' tool "wall (s)" "peak RSS (MB)" "time vs exactextract"
read -r _ ee_s ee_kb <<< "$r3"
for r in "$r1" "$r2" "$r3"; do
  read -r label s kb <<< "$r"
  case $label in
    geepipe) name="geepipe ($cores threads)";;
    geepipe-1thread) name="geepipe (1 thread)";;
    *) name=$label;;
  esac
  printf '%-24s %10.2f %14.0f %16s\n' "$name" "$s" "$((kb / 1024))" "$(awk -v a="$s" -v b="$ee_s" 'BEGIN { printf "%.2fx", a / b }')"
done
