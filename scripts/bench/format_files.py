#!/usr/bin/env python3
"""Writes the benchmark's GeoJSON sites as GeoParquet (WGS 84, GeoPandas) and as a Shapefile in SIRGAS 2000 /
Brazil Polyconic (EPSG:5880, reprojected by PROJ through GeoPandas, written by GDAL through pyogrio).

Usage: format_files.py SITES.geojson OUT_DIR
"""
import sys

import geopandas


def main():
    source, out = sys.argv[1], sys.argv[2]
    gdf = geopandas.read_file(source, engine="pyogrio", use_arrow=True)
    gdf.to_parquet(f"{out}/sites.parquet", schema_version="1.1.0")
    gdf.to_crs("EPSG:5880").to_file(f"{out}/sites.shp", engine="pyogrio", promote_to_multi=False)


if __name__ == "__main__":
    main()
