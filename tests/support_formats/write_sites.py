#!/usr/bin/env python3
"""Writes one GeoJSON site file again in every format geepipe reads, with GDAL (pyogrio) and GeoPandas.

Usage: write_sites.py SOURCE.geojson OUT_DIR

Writes into OUT_DIR:
  sites.shp (+ .shx .dbf .prj .cpg)   ESRI Shapefile, reprojected to WGS 84 / UTM zone 23S (EPSG:32723)
  sites.gpkg                          GeoPackage, reprojected to Web Mercator (EPSG:3857)
  sites.fgb                           FlatGeobuf, SIRGAS 2000 geographic (EPSG:4674), without the spatial
                                      index (which would sort the features)
  sites.parquet, sites-1.0.parquet    GeoParquet 1.1 and 1.0 (WKB), SIRGAS 2000 / UTM 23S (EPSG:31983)
  sites.geojsonl                      GeoJSONSeq (WGS 84)
Polygons stay Polygons and MultiPolygons MultiPolygons (no promotion to multi), as in the source.
Reprojection is PROJ's (through GeoPandas' pyproj), writing is GDAL's (pyogrio), except GeoParquet, which
GDAL's wheel cannot write (no Parquet driver): GeoPandas writes it with pyarrow, as its users do.
"""
import sys

import geopandas
import pyogrio


def main():
    source, out = sys.argv[1], sys.argv[2]
    gdf = geopandas.read_file(source, engine="pyogrio")
    if gdf.crs is None:
        gdf = gdf.set_crs("EPSG:4326")
    gdf.to_crs("EPSG:32723").to_file(f"{out}/sites.shp", engine="pyogrio", driver="ESRI Shapefile")
    gdf.to_crs("EPSG:3857").to_file(
        f"{out}/sites.gpkg", engine="pyogrio", driver="GPKG", layer="sites", promote_to_multi=False
    )
    gdf.to_crs("EPSG:4674").to_file(
        f"{out}/sites.fgb",
        engine="pyogrio",
        driver="FlatGeobuf",
        promote_to_multi=False,
        layer_options={"SPATIAL_INDEX": "NO"},
    )
    utm = gdf.to_crs("EPSG:31983")
    utm.to_parquet(f"{out}/sites.parquet", schema_version="1.1.0", write_covering_bbox=True)
    utm.to_parquet(f"{out}/sites-1.0.parquet", schema_version="1.0.0")
    gdf.to_file(f"{out}/sites.geojsonl", engine="pyogrio", driver="GeoJSONSeq")
    print(pyogrio.__gdal_version_string__)


if __name__ == "__main__":
    main()
