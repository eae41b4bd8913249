#!/usr/bin/env bash
# Executor benchmark against the fake Earth Engine (accelerated clock): makespan vs ideal and API calls
# per task (every call), geepipe with its shipped settings against a model of gee-polygons with its shipped
# settings (5 s / 30 s per-task polls, 100 getInfo calls per task) in the same run.
# Usage: scripts/bench-executor.sh [tasks=800] [concurrency=40] [clock-scale=200] [getinfo-per-task=100]
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --example bench_executor -- "$@"
