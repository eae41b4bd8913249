#!/usr/bin/env bash
# Report benchmark: a synthetic finished run of SITES sites × YEARS years (default 40,000 × 14: MapBiomas
# land cover, MODIS NDVI mean and p90; examples/report-data.rs), then `geepipe report` (release) and, in
# the same run, the notebook peer (pandas + plotly, aggregate charts only: scripts/bench/report_peer.py).
# Prints wall time, peak memory and the size of each HTML file. Needs python3 and PyPI access once.
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${BENCH_SITES:-40000}
YEARS=${BENCH_YEARS:-14}
WORK=${BENCH_DIR:-target/bench-report}
VENV=target/bench-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pandas, plotly" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "pandas==3.1.1" "plotly==7.1.0"
fi
cargo build --release --quiet --bin geepipe --example report-data
rm -rf "$WORK"
target/release/examples/report-data "$SITES" "$YEARS" "$WORK"
RS=$(python3 scripts/bench/measure.py target/release/geepipe report "$WORK/pipeline.yaml" --output "$WORK/geepipe.html")
PY=$(python3 scripts/bench/measure.py "$VENV/bin/python" scripts/bench/report_peer.py "$WORK/table.csv" "$WORK/peer.html")
python3 - "$RS" "$PY" "$SITES" "$YEARS" "$WORK" <<'PYEOF'
import json, os, sys
rs, py, n, y, work = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
table = os.path.getsize(os.path.join(work, "table.csv"))
print(f"HTML report of {int(n):,} sites x {y} years (table {table / 1e6:.0f} MB)")
print(f"{'':34}{'wall s':>8}{'cpu s':>8}{'peak MiB':>10}{'HTML MB':>9}")
for name, r, f in [("geepipe report (release)", rs, "geepipe.html"), ("pandas + plotly (aggregates only)", py, "peer.html")]:
    size = os.path.getsize(os.path.join(work, f)) / 1e6
    print(f"{name:34}{r['seconds']:>8.2f}{r['cpu_seconds']:>8.2f}{r['peak_mib']:>10.1f}{size:>9.2f}")
print("(the machine is shared: wall times depend on its load; the peer draws no map, no site view, no run section)")
PYEOF
