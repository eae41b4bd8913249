#!/usr/bin/env bash
# Incremental planning benchmark: 40,000 sites × 14 years (MapBiomas 2010..2023) stored in the results
# store, then one more year (2010..2024): `geepipe plan` of the rerun on one core (taskset), the share of the
# site-years it sends (goal: exactly 1/15) and its peak memory; then `plan` of 100,000 sites (and 1,000,000
# with BENCH_MILLION=1) with nothing stored, to show that planning streams (peak memory against the site
# count). The store is filled by examples/bench_incremental.rs as a finished 14-year run would leave it.
# The peer (a results database kept by hand) has no planner to compare with: the official client plans
# every site-year again (see scripts/bench-plan.sh for its time on the same 40,000 sites).
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${BENCH_SITES:-40000}
WORK=${BENCH_DIR:-target/bench-incremental}
mkdir -p "$WORK"
export PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin geepipe --example bench_incremental
else
  cargo build --quiet --bin geepipe --example bench_incremental
fi
BIN=target/$PROFILE/geepipe
FILL=target/$PROFILE/examples/bench_incremental
ONE_CORE=""
command -v taskset >/dev/null && ONE_CORE="taskset -c 0"

pipeline() { # name sites-file years
  cat > "$WORK/$1.yaml" <<YAML
name: $1
sites: {file: $2, id: site_id}
years: $3
mode: batch
layers: [{catalog: mapbiomas_lulc}]
export: {to: gcs, bucket: bench-bucket}
chunks: {sites_per_task: 50}
journal: $1-journal
YAML
}

[ -f "$WORK/sites.geojson" ] || python3 scripts/bench/make_sites.py "$SITES" "$WORK/sites.geojson"
rm -rf "$WORK/incr-journal"
pipeline incr sites.geojson 2010..2023
STORED=$("$FILL" "$WORK/incr.yaml")
pipeline incr sites.geojson 2010..2024
RERUN=$(python3 scripts/bench/measure.py $ONE_CORE "$BIN" plan "$WORK/incr.yaml" --json)
ROWS=("$RERUN")
NAMES=("rerun, 1 year more")
for n in ${BENCH_BIG:-100000} ${BENCH_MILLION:+1000000}; do
  [ -f "$WORK/sites-$n.geojson" ] || python3 scripts/bench/make_sites.py "$n" "$WORK/sites-$n.geojson"
  rm -rf "$WORK/s$n-journal"
  pipeline "s$n" "sites-$n.geojson" 2010..2023
  ROWS+=("$(python3 scripts/bench/measure.py $ONE_CORE "$BIN" plan "$WORK/s$n.yaml" --json)")
  NAMES+=("$n sites, nothing stored")
done
python3 - "$SITES" "$STORED" "${#ROWS[@]}" "${ROWS[@]}" "${NAMES[@]}" <<'PYEOF'
import json, os, sys
sites, stored = int(sys.argv[1]), int(sys.argv[2])
k = int(sys.argv[3])
rows = [json.loads(r) for r in sys.argv[4:4 + k]]
names = sys.argv[4 + k:4 + 2 * k]
print(f"incremental planning: {sites} sites x 14 years stored ({stored} cells), then 15 years; one core")
print(f"{'geepipe plan (' + os.environ.get('PROFILE', 'release') + ')':32}{'sites':>9}{'tasks':>7}{'stored':>10}{'to compute':>12}{'share':>9}{'wall s':>8}{'cpu s':>8}{'peak MiB':>10}")
for name, r in zip(names, rows):
    out = json.loads(r["stdout"])
    c = out["cells"]
    st = sum(l["stored"] for l in c["layers"])
    tc = sum(l["to_compute"] for l in c["layers"])
    share = tc / (st + tc) if st + tc else 0
    print(f"{name:32}{c['sites']:>9}{out['tasks']:>7}{st:>10}{tc:>12}{share:>9.4f}{r['seconds']:>8.2f}{r['cpu_seconds']:>8.2f}{r['peak_mib']:>10.1f}")
print(f"goal: share 1/15 = {1/15:.4f} of the site-years, rerun plan <= 2 s on one core")
PYEOF
