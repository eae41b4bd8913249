#!/usr/bin/env bash
# Benchmark: `geepipe validate` on a 1,000,000-feature GeoJSON (streaming) against a validator as the peer:
# GDAL reading every feature (pyogrio, the reader geopandas uses) plus GEOS's validity check on every geometry
# (shapely.is_valid: closed rings, self-intersections) and the id checks geepipe makes (missing, duplicated).
# Python's json.load of the same file is shown as a floor (it parses and checks nothing). Prints wall time and
# peak memory (max RSS) of each, and the ratios against the validator.
#
# Usage: scripts/bench-sites.sh [FEATURES]   (default 1000000; output under target/bench-sites/)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
dir="target/bench-sites"
mkdir -p "$dir"
geo="$dir/sites-$n.geojson"
if [ ! -s "$geo" ]; then
  echo "generating $n features into $geo ..." >&2
  python3 scripts/gen-sites.py "$n" "$geo.tmp" && mv "$geo.tmp" "$geo"
fi
cat > "$dir/pipeline.yaml" <<YAML
project: bench-project
sites:
  file: $(basename "$geo")
  id: site_id
  keep: [name]
  first_year: planted
layers:
  - catalog: mapbiomas_lulc
    years: 2015..2020
export:
  to: drive
  folder: bench
YAML
cargo build --release --quiet
bin="target/release/geepipe"
# The peer's Python packages (pyogrio with its bundled GDAL, shapely with GEOS) from the test environment.
scripts/test-deps.sh
py=".venv-test/bin/python"

# measure NAME CMD... : runs CMD under /usr/bin/time -v, prints "NAME seconds kib"
measure() {
  local name="$1"; shift
  local log="$dir/time-$name.log"
  /usr/bin/time -v "$@" > "$dir/out-$name.log" 2> "$log" || { echo "$name failed:" >&2; tail -20 "$log" >&2; exit 1; }
  local wall rss
  wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}' | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
  echo "$name $wall $rss"
}

size=$(stat -c %s "$geo")
# Warm the page cache so both read from memory.
cat "$geo" > /dev/null
g=$(measure geepipe "$bin" validate "$dir/pipeline.yaml")
v=$(measure validator "$py" -c '
import sys, pyogrio, shapely
df = pyogrio.read_dataframe(sys.argv[1])          # GDAL parses every feature and its geometry
invalid = int((~shapely.is_valid(df.geometry.values)).sum())  # GEOS: rings, self-intersections
ids = df["site_id"]
print(len(df), "features;", invalid, "invalid;", int(ids.isna().sum()), "without id;", int(ids.duplicated().sum()), "duplicated ids")
' "$geo")
p=$(measure python python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["features"]))' "$geo")
grep -q "valid" "$dir/out-geepipe.log" || { echo "geepipe did not validate the file" >&2; cat "$dir/out-geepipe.log" >&2; exit 1; }

read -r _ gw gr <<<"$g"
read -r _ vw vr <<<"$v"
read -r _ pw pr <<<"$p"
printf '\nsite file: %s features, %.1f MB\n\n' "$n" "$(echo "$size / 1048576" | bc -l)"
printf '| %-34s | %10s | %14s |\n' "reader" "wall (s)" "peak RSS (MB)"
printf '| %-34s | %10s | %14s |\n' "----------------------------------" "----------" "--------------"
printf '| %-34s | %10.2f | %14.1f |\n' "geepipe validate (streaming)" "$gw" "$(echo "$gr / 1024" | bc -l)"
printf '| %-34s | %10.2f | %14.1f |\n' "pyogrio + shapely.is_valid (peer)" "$vw" "$(echo "$vr / 1024" | bc -l)"
printf '| %-34s | %10.2f | %14.1f |\n' "python3 json.load (no checks)" "$pw" "$(echo "$pr / 1024" | bc -l)"
printf '\npeer says: %s\n' "$(cat "$dir/out-validator.log")"
printf 'ratios geepipe/validator: time %.2f, memory %.3f; geepipe peak RSS / file size: %.3f\n' \
  "$(echo "$gw / $vw" | bc -l)" "$(echo "$gr / $vr" | bc -l)" "$(echo "$gr * 1024 / $size" | bc -l)"
