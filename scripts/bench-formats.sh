#!/usr/bin/env bash
# Benchmark: `geepipe validate` on 1,000,000 sites as GeoJSON, GeoParquet (WGS 84) and a Shapefile in
# SIRGAS 2000 / Brazil Polyconic (EPSG:5880, converted to longitude/latitude with densified edges), each
# beside a peer doing the same job on the same file: GDAL reading it (pyogrio, Arrow I/O, into GeoPandas;
# GeoParquet through GeoPandas' pyarrow reader, as the GDAL in pyogrio's wheel has no Parquet driver)
# plus the same checks with shapely (ids present and unique, polygon types, validity, reprojection and
# range). Prints wall time, CPU time and peak memory (max RSS) of each, in one table.
#
# Usage: scripts/bench-formats.sh [SITES]   (default 1000000; files under target/bench-formats/)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
dir="target/bench-formats/$n"
mkdir -p "$dir"
bash scripts/test-deps.sh
root="$PWD"
py="$root/.venv-test/bin/python"
if [ ! -s "$dir/sites.geojson" ]; then
  echo "generating $n sites into $dir/sites.geojson ..." >&2
  python3 scripts/gen-sites.py "$n" "$dir/sites.geojson.tmp" && mv "$dir/sites.geojson.tmp" "$dir/sites.geojson"
fi
if [ ! -s "$dir/sites.shp" ] || [ ! -s "$dir/sites.parquet" ]; then
  echo "writing GeoParquet and Shapefile (GeoPandas, GDAL) ..." >&2
  "$py" scripts/bench/format_files.py "$dir/sites.geojson" "$dir"
fi
for f in geojson parquet shp; do
  cat > "$dir/p-$f.yaml" <<YAML
project: bench-project
sites: {file: sites.$f, id: site_id, keep: [name], first_year: planted}
layers: [{catalog: mapbiomas_lulc, years: 2015..2020}]
export: {to: drive, folder: bench}
YAML
done
cargo build --release --quiet --bin geepipe
bin="$PWD/target/release/geepipe"

size() { du -sb "$@" | awk '{s += $1} END {printf "%.0f", s / 1048576}'; }
row() { # LABEL MiB JSON
  "$py" -c 'import json,sys; r=json.loads(sys.argv[3]); print("| %-56s | %9s | %8.2f | %8.2f | %9.0f |" % (sys.argv[1], sys.argv[2], r["seconds"], r["cpu_seconds"], r["peak_mib"]))' "$@"
}
measure() { "$py" "$root/scripts/bench/measure.py" "$@"; }

# Warm the page cache so every reader starts from memory.
cat "$dir"/sites.* > /dev/null
printf '\n%s sites\n\n' "$n"
printf '| %-56s | %9s | %8s | %8s | %9s |\n' "reader" "file MiB" "wall s" "cpu s" "peak MiB"
printf '| %-56s | %9s | %8s | %8s | %9s |\n' "--------------------------------------------------------" "---------" "--------" "--------" "---------"
for f in geojson parquet shp; do
  case $f in
    geojson) label="GeoJSON"; files=("$dir/sites.geojson") ;;
    parquet) label="GeoParquet (WGS 84)"; files=("$dir/sites.parquet") ;;
    shp) label="Shapefile (EPSG:5880)"; files=("$dir"/sites.shp "$dir"/sites.shx "$dir"/sites.dbf "$dir"/sites.prj) ;;
  esac
  mib=$(size "${files[@]}")
  g=$(cd "$dir" && measure "$bin" validate "p-$f.yaml")
  grep -q valid <<<"$g" || { echo "geepipe did not validate $f: $g" >&2; exit 1; }
  row "geepipe validate, $label" "$mib" "$g"
  p=$(measure "$py" scripts/bench/peer_validate.py "$dir/sites.$f" site_id)
  grep -Eq "sites[^a-z0-9]{0,3}: $n," <<<"$p" || { echo "the peer did not read $n sites from $f: $p" >&2; exit 1; }
  row "peer: GeoPandas + shapely checks, $label" "$mib" "$p"
done
printf '\npeer: GDAL %s through pyogrio, GeoPandas and shapely from .venv-test (scripts/test-deps.sh)\n' \
  "$("$py" -c 'import pyogrio; print(pyogrio.__gdal_version_string__)')"
