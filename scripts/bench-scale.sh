#!/usr/bin/env bash
# Scale benchmark: `geepipe plan` and `geepipe run` of 100,000 and 1,000,000 sites × 14 years (MapBiomas
# 2010..2023, 50 sites per task, `mode: batch` to Cloud Storage, nothing stored yet), release builds.
# `run` goes against the fake Earth Engine (crates/fake-ee, `fake-earthengine --no-evaluate`: each export is
# checked against the schema and runs 60 virtual seconds on a clock running ×1000, 100 at once; its
# computation is not evaluated, which would take the fake hours at this scale, so the run ends with
# `--no-fetch`). Prints, per size, wall and CPU time, peak resident memory (RSS) and, for `run`, the time from
# start to the first submission (from `--events`); then the goals of issue 15: the 1,000,000-site peak within
# 1.5× the 100,000-site peak and under 1 GiB, the first submission within 5 s at 1,000,000 sites.
# There is no peer to run here: the official client and gee-polygons build every request before sending
# (scripts/bench-plan.sh compares planning with the official client).
#
#   BENCH_SIZES="100000 1000000"  site counts     BENCH_DIR=target/bench-scale
#   BENCH_CLOCK=1000  virtual seconds per second   BENCH_TASK_S=60  task duration (virtual s)
#   BENCH_CONCURRENT=100  tasks at once (pipeline's chunks.max_concurrent and the fake's running slots)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${BENCH_SIZES:-"100000 1000000"}
WORK=${BENCH_DIR:-target/bench-scale}
CLOCK=${BENCH_CLOCK:-1000}
TASK_S=${BENCH_TASK_S:-60}
CONCURRENT=${BENCH_CONCURRENT:-100}
mkdir -p "$WORK"
cargo build --release --quiet --bin geepipe
cargo build --release --quiet -p fake-ee --bin fake-earthengine
BIN=$PWD/target/release/geepipe
FAKE=$PWD/target/release/fake-earthengine
TOKEN=bench-token

FAKE_PID=""
cleanup() { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null || true; }
trap cleanup EXIT

ROWS=()
for n in $SIZES; do
  [ -f "$WORK/sites-$n.geojson" ] || python3 scripts/gen-sites.py "$n" "$WORK/sites-$n.geojson"
  cat > "$WORK/s$n.yaml" <<YAML
name: s$n
project: bench-project
sites: {file: sites-$n.geojson, id: site_id}
years: 2010..2023
mode: batch
layers: [{catalog: mapbiomas_lulc}]
export: {to: gcs, bucket: bench-bucket}
chunks: {sites_per_task: 50, max_concurrent: $CONCURRENT}
journal: s$n-journal
YAML
  rm -rf "$WORK/s$n-journal" "$WORK/events-$n.jsonl"
  PLAN=$(python3 scripts/bench/measure.py "$BIN" plan "$WORK/s$n.yaml" --json)
  "$FAKE" --time-scale "$CLOCK" --duration "$TASK_S" --max-running "$CONCURRENT" --token "$TOKEN" --no-evaluate \
    > "$WORK/fake.out" 2> "$WORK/fake.err" &
  FAKE_PID=$!
  for _ in $(seq 100); do [ -s "$WORK/fake.out" ] && break; sleep 0.1; done
  URL=$(head -1 "$WORK/fake.out")
  RUN=$(GEEPIPE_EE_URL=$URL GEEPIPE_EE_TOKEN=$TOKEN \
    GEEPIPE_POLL_MIN=$(python3 -c "print(5 / $CLOCK)") GEEPIPE_POLL_MAX=$(python3 -c "print(60 / $CLOCK)") \
    python3 scripts/bench/measure.py "$BIN" -q run "$WORK/s$n.yaml" --no-fetch --events "$WORK/events-$n.jsonl")
  kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null || true; FAKE_PID=""
  ROWS+=("$n" "$PLAN" "$RUN" "$WORK/events-$n.jsonl")
done

python3 - "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "${ROWS[@]}" <<'PYEOF'
import json, sys
cores, load, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"scale: sites x 14 years (mapbiomas_lulc), 50 sites per task, nothing stored; {cores} cores, load {load}")
print(f"{'geepipe (release)':26}{'sites':>9}{'tasks':>7}{'wall s':>9}{'cpu s':>9}{'peak MiB':>10}{'1st submit s':>14}")
peaks = {}
firsts = {}
for i in range(0, len(rest), 4):
    n, plan, run, events = int(rest[i]), json.loads(rest[i + 1]), json.loads(rest[i + 2]), rest[i + 3]
    tasks = json.loads(plan["stdout"])["tasks"]
    first = None
    submitted = 0
    with open(events) as f:
        for line in f:
            e = json.loads(line)
            if e.get("event") == "submitted":
                submitted += 1
                if first is None:
                    first = e["at"] - run["started_at"]
    assert submitted == tasks, f"{n} sites: {submitted} tasks submitted, {tasks} planned"
    peaks[n] = run["peak_mib"], plan["peak_mib"]
    firsts[n] = first
    print(f"{'plan':26}{n:>9}{tasks:>7}{plan['seconds']:>9.2f}{plan['cpu_seconds']:>9.2f}{plan['peak_mib']:>10.1f}{'':>14}")
    print(f"{'run --no-fetch (to end)':26}{n:>9}{submitted:>7}{run['seconds']:>9.2f}{run['cpu_seconds']:>9.2f}{run['peak_mib']:>10.1f}{first:>14.2f}")
if 100000 in peaks and 1000000 in peaks:
    (r_big, p_big), (r_small, p_small) = peaks[1000000], peaks[100000]
    print(f"peak 1,000,000 / 100,000 sites: run {r_big / r_small:.2f}x, plan {p_big / p_small:.2f}x (goal <= 1.5x, "
          f"under 1024 MiB)")
    print(f"first submission at 1,000,000 sites: {firsts[1000000]:.2f} s (goal <= 5 s)")
PYEOF
