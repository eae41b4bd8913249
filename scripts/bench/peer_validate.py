#!/usr/bin/env python3
"""The peer of `geepipe validate` on a site file: GDAL reads it (pyogrio, Arrow I/O; GeoParquet is read by
GeoPandas with pyarrow, as the GDAL in pyogrio's wheel has no Parquet driver), then the same checks
geepipe makes are run with shapely/GeoPandas: ids present and unique, geometries polygons, valid
(closed rings of 4+ positions, no self-intersection) and, for a projected file, reprojected to WGS 84
longitude/latitude and within range. Prints the counts it found.

Usage: peer_validate.py FILE ID_FIELD
"""
import json
import sys

import geopandas
import shapely


def main():
    path, id_field = sys.argv[1], sys.argv[2]
    if path.endswith(".parquet"):
        gdf = geopandas.read_parquet(path)
    else:
        gdf = geopandas.read_file(path, engine="pyogrio", use_arrow=True)
    ids = gdf[id_field]
    missing = int(ids.isna().sum())
    duplicates = int(ids.duplicated().sum())
    types = gdf.geometry.geom_type
    not_polygons = int((~types.isin(["Polygon", "MultiPolygon"])).sum())
    invalid = int((~shapely.is_valid(gdf.geometry.values)).sum())
    if gdf.crs is not None and not gdf.crs.is_geographic:
        gdf = gdf.to_crs("EPSG:4326")
    b = gdf.geometry.bounds
    out_of_range = int(((b.minx < -180) | (b.maxx > 180) | (b.miny < -90) | (b.maxy > 90)).sum())
    print(json.dumps({"sites": len(gdf), "missing_ids": missing, "duplicate_ids": duplicates,
                      "not_polygons": not_polygons, "invalid": invalid, "out_of_range": out_of_range}))


if __name__ == "__main__":
    main()
