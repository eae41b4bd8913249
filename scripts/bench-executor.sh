#!/usr/bin/env bash
# Executor benchmark against the fake Earth Engine (accelerated clock): makespan vs ideal and API calls
# per task, geepipe's executor against a naive per-task-polling peer in the same run.
# Usage: scripts/bench-executor.sh [tasks=800] [concurrency=40] [clock-scale=200]
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example bench_executor -- "$@"
