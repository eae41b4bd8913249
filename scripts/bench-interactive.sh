#!/usr/bin/env bash
# Time to table, batch against interactive: `geepipe run` (release) on 2,000 sites × 1 categorical layer
# (MapBiomas) × 14 years against the fake Earth Engine, in both modes, the same pipeline and sites; then the
# number of sites at which `mode: auto` switches to batch. Both tables are checked to be identical.
#
# The fake is configured with these figures (override any of them in the environment):
#
#   BATCH_CONCURRENT=2        tasks RUNNING at once per project: Earth Engine runs "2 tasks (on average)"
#                             concurrently by default (developers.google.com/earth-engine/guides/usage).
#   BATCH_QUEUE_S=10          time a task waits before it may start. Earth Engine publishes no queue time;
#                             10 s is a low guess (tasks are "held in a per-user queue", guides/
#                             processing_environments), so the comparison flatters batch.
#   BATCH_TASK_S=30           run time of a task: 30 s + BATCH_TASK_PER_SITE_S per site (50 sites: 55 s).
#   BATCH_TASK_PER_SITE_S=0.5 No published figure either; a low guess too (the start-up of a batch worker and
#                             the writing of the file are in the 30 s).
#   INTERACTIVE_LATENCY_S=2   latency of one table:computeFeatures request. The high-volume endpoint has
#                             "higher average latency" than the standard one (guides/processing_environments);
#                             no figure is published; 2 s is geepipe's own planning assumption
#                             (src/plan/estimate.rs, REQUEST_OVERHEAD_SECONDS).
#   INTERACTIVE_PER_SITE_S=0.02  work per site and request: 14 layer-years of a ~30 ha site (~4,600 pixel
#                             reads) at geepipe's assumed 10^6 pixel reads per second is ~5 ms, plus 5 ms per
#                             site; 20 ms is twice that.
#   (fixed) 40 requests in flight at once and at most 100 per second: Earth Engine's per-project defaults
#                             (guides/usage); the fake answers 429 above 40, geepipe never sends more.
#   SCALE=200                 the fake's clock runs ×200 for batch (its time is modelled, see the example).
#   SITES=2000
#   PROFILE=release           or debug
#
#   scripts/bench-interactive.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh >/dev/null   # fake-gcs-server for the batch exports
# PROFILE=debug uses the debug build (when a release build is out of reach; the figures are then slower).
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --quiet --release --bin geepipe --example bench_interactive
else
  cargo build --quiet --bin geepipe --example bench_interactive
fi
exec "target/$PROFILE/examples/bench_interactive" "target/$PROFILE/geepipe"
