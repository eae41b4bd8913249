#!/usr/bin/env bash
# Benchmark of the local engine against exactextract on the same data, in one run.
#
# Two scenarios, each writing a SIZE × SIZE categorical GeoTIFF (tiled 512 × 512, Deflate, uint8) and
# SITES random star-shaped polygons (in random order over the raster) into bench-out/:
#   1. SIZE=10000 SITES=5000: geepipe on all cores and on one thread, and exactextract;
#   2. SCALE_SIZE=20000 SCALE_SITES=100000 with the default chunk cache: geepipe on all cores beside
#      exactextract, with geepipe's strip/tile decodes per tile from its manifest (goal: ≤ 1.2 decodes
#      per tile and ≤ 0.5× exactextract's time).
# exactextract (PyPI, reading the same GeoTIFF through rasterio) computes per-class coverage-weighted pixel
# counts for every polygon; both results are compared (total weighted pixels per class) so the timing is
# of the same work. Both tools run on the same cores (taskset when available). Prints wall time and peak
# RSS with the ratios.
#
#   scripts/bench-local.sh                 # both scenarios
#   SCENARIOS=small scripts/bench-local.sh # only the first
#   SIZE=4000 SITES=1000 SCALE_SIZE=6000 SCALE_SITES=20000 scripts/bench-local.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-10000}
SITES=${SITES:-5000}
SCALE_SIZE=${SCALE_SIZE:-20000}
SCALE_SITES=${SCALE_SITES:-100000}
SCENARIOS=${SCENARIOS:-"small scale"}
VENV=.venv-bench
if [ ! -f "$VENV/.geepipe-bench-v1" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "exactextract==0.3.0"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "numpy>=1.26"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "rasterio>=1.4"
  touch "$VENV/.geepipe-bench-v1"
fi
cargo build --quiet --release --bin geepipe --example bench-data
ROOT=$PWD
cores=$(nproc)
PIN=()
if command -v taskset > /dev/null; then PIN=(taskset -c "0-$((cores - 1))"); fi

measure() { # dir, label, command...
  local dir=$1 label=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$dir/$label.time" "${PIN[@]}" "$@" > "$dir/$label.log" 2>&1 || { cat "$dir/$label.log"; exit 1; }
  read -r secs kb < "$dir/$label.time"
  echo "$label $secs $kb"
}

prepare() { # size, sites → prints the output folder
  local size=$1 sites=$2 out="$ROOT/bench-out/local-$1-$2"
  mkdir -p "$out"
  echo "generating $size × $size raster and $sites sites in $out ..." >&2
  "$ROOT/target/release/examples/bench-data" "$out" "$size" "$sites" >&2
  cat > "$out/bench.yaml" <<YAML
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
  cat > "$out/ee.py" <<'PY'
import json, sys
import rasterio
from exactextract import exact_extract
feats = json.load(open(sys.argv[1]))["features"]
with rasterio.open(sys.argv[2]) as r:
    res = exact_extract(r, feats, ["count", "unique", "frac"], include_cols=["site_id"], output="geojson")
with open(sys.argv[3], "w") as out:
    out.write("site_id,class_code,pixels\n")
    for f in res:
        p = f["properties"]
        for u, fr in zip(p["unique"], p["frac"]):
            px = float(fr) * float(p["count"])
            out.write(f"{p['site_id']},{int(u)},{px!r}\n")
PY
  cat > "$out/compare.py" <<'PY'
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
  echo "$out"
}

cache() { # manifest → "decodes per tile, distinct tiles, budget MB"
  "$ROOT/$VENV/bin/python" -c '
import json, sys
c = json.load(open(sys.argv[1]))["extra"]["chunk_cache"]
print("%.3f %d %d" % (c["decodes_per_chunk"], c["distinct_decoded"], c["budget_bytes"] >> 20))' "$1"
}

row() { # label, secs, kb, exactextract secs, extra
  printf '%-28s %10.2f %14.0f %16s %s\n' "$1" "$2" "$(($3 / 1024))" \
    "$(awk -v a="$2" -v b="$4" 'BEGIN { printf "%.2fx", a / b }')" "${5:-}"
}

for scenario in $SCENARIOS; do
  case $scenario in
    small) size=$SIZE; sites=$SITES;;
    scale) size=$SCALE_SIZE; sites=$SCALE_SITES;;
    *) echo "unknown scenario $scenario" >&2; exit 2;;
  esac
  OUT=$(prepare "$size" "$sites")
  rm -rf "$OUT/out"
  r1=$(cd "$OUT" && measure "$OUT" geepipe "$ROOT/target/release/geepipe" -q run bench.yaml)
  read -r decodes tiles budget <<< "$(cache "$OUT/out/geepipe.manifest.json")"
  if [ "$scenario" = small ]; then
    r2=$(cd "$OUT" && GEEPIPE_THREADS=1 measure "$OUT" geepipe-1thread "$ROOT/target/release/geepipe" -q run bench.yaml)
  fi
  r3=$(cd "$OUT" && measure "$OUT" exactextract "$ROOT/$VENV/bin/python" ee.py sites.geojson lulc.tif ee.csv)
  "$ROOT/$VENV/bin/python" "$OUT/compare.py" "$OUT/out/geepipe.csv" "$OUT/ee.csv"

  printf '\n%s × %s raster (%s MB on disk, %s tiles decoded), %s polygons in random order, %s cores\n\n' \
    "$size" "$size" "$(du -m "$OUT/lulc.tif" | cut -f1)" "$tiles" "$sites" "$cores"
  printf '%-28s %10s %14s %16s %s\n' tool "wall (s)" "peak RSS (MB)" "time vs exactextract" "decodes per tile"
  read -r _ ee_s ee_kb <<< "$r3"
  read -r _ s kb <<< "$r1"
  row "geepipe ($cores threads)" "$s" "$kb" "$ee_s" "$decodes (cache ${budget} MB)"
  if [ "$scenario" = small ]; then
    read -r _ s kb <<< "$r2"
    row "geepipe (1 thread)" "$s" "$kb" "$ee_s"
  fi
  row "exactextract" "$ee_s" "$ee_kb" "$ee_s"
  echo
done
