#!/usr/bin/env bash
# Planning benchmark: 40,000 sites × 14 years (MapBiomas, 2010..2023), 50 sites per task, `mode: batch` (export
# requests, as the official client makes them; `auto` would choose fewer, larger interactive requests).
# geepipe (release) plans and writes every request body; in the same run the official Python client
# (earthengine-api, offline) builds and serialises the same computation for the same chunks.
# Prints wall time and peak memory of both and the ratio. Needs python3 (venv) and PyPI access once.
set -euo pipefail
cd "$(dirname "$0")/.."
SITES=${BENCH_SITES:-40000}
WORK=${BENCH_DIR:-target/bench-plan}
VENV=target/bench-venv
mkdir -p "$WORK"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import ee" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check earthengine-api==1.7.50
fi
cargo build --release --quiet
python3 scripts/bench/make_sites.py "$SITES" "$WORK/sites.geojson"
cat > "$WORK/bench.yaml" <<YAML
name: bench
sites: {file: sites.geojson, id: site_id}
years: 2010..2023
layers: [{catalog: mapbiomas_lulc}]
export: {to: gcs, bucket: bench-bucket}
mode: batch
chunks: {sites_per_task: 50}
YAML
# An earlier run's outputs are moved aside now and removed after the measurements: on ext4 without a
# journal, creating files just after deleting as many makes each creation step over every recently freed
# inode (kernel `recently_deleted`), a cost of the file system's state charged to whichever tool runs next.
for d in out-geepipe out-python; do
  if [ -e "$WORK/$d" ]; then mv "$WORK/$d" "$WORK/$d.old.$$"; fi
done
RS=$(python3 scripts/bench/measure.py target/release/geepipe plan "$WORK/bench.yaml" --out "$WORK/out-geepipe" --json)
PY=$(python3 scripts/bench/measure.py "$VENV/bin/python" scripts/bench/official_client.py \
  "$WORK/sites.geojson" "$WORK/out-python" 2010 2023 50)
python3 - "$RS" "$PY" "$SITES" <<'PYEOF'
import json, sys
rs, py, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
rs_out = json.loads(rs["stdout"])
py_out = json.loads(py["stdout"].strip().splitlines()[-1])
print(f"planning {n} sites x 14 years (mapbiomas_lulc), 50 sites per task")
print(f"{'':28}{'tasks':>8}{'request MB':>12}{'wall s':>10}{'cpu s':>10}{'peak MiB':>10}")
print(f"{'geepipe plan (release)':28}{rs_out['tasks']:>8}{rs_out['total_request_bytes']/1e6:>12.1f}{rs['seconds']:>10.2f}{rs['cpu_seconds']:>10.2f}{rs['peak_mib']:>10.1f}")
print(f"{'earthengine-api 1.7.50':28}{py_out['tasks']:>8}{py_out['total_request_bytes']/1e6:>12.1f}{py['seconds']:>10.2f}{py['cpu_seconds']:>10.2f}{py['peak_mib']:>10.1f}")
print(f"(earthengine-api without interpreter start-up and import: {py_out['build_seconds']:.2f} s)")
print(f"speed-up (wall): {py['seconds']/rs['seconds']:.1f}x   (cpu): {py['cpu_seconds']/rs['cpu_seconds']:.1f}x   "
      f"peak memory python/geepipe: {py['peak_mib']/rs['peak_mib']:.2f}x")
print("(the machine is shared: wall times depend on its load; cpu time is the fairer comparison)")
PYEOF
rm -rf "$WORK"/out-*.old.*
