#!/usr/bin/env python3
"""Reads a geepipe Parquet table back with pyarrow and with DuckDB and compares it with the CSV table of
the same run; prints one JSON object of findings (the Rust test asserts on them).

Usage: read_tables.py TABLE.csv TABLE.parquet [SITES.geojson GEOMETRY]

GEOMETRY is `none`, `centroid` or `polygon`; with `centroid`/`polygon` the GeoParquet is also read with
GeoPandas (which checks its `geo` metadata) and its geometries are compared with the site file's, read
with GeoPandas/shapely (the centroid is shapely's planar centroid in longitude/latitude).
"""
import csv
import json
import math
import sys

import duckdb
import pyarrow.parquet as pq


def same(csv_text, value):
    """Whether a CSV cell (text) and a Parquet value are the same value."""
    if value is None:
        return csv_text == ""
    if isinstance(value, bool):
        return csv_text == ("true" if value else "false")
    if isinstance(value, int):
        return csv_text != "" and int(csv_text) == value
    if isinstance(value, float):
        return csv_text != "" and (float(csv_text) == value or (math.isnan(value) and csv_text.lower() == "nan"))
    return csv_text == value


def compare(header, csv_rows, columns, rows):
    """Counts the cells that differ between the CSV rows and the Parquet rows (dicts)."""
    bad = []
    for i, (c, r) in enumerate(zip(csv_rows, rows)):
        for name, text in zip(header, c):
            if not same(text, r[name]):
                bad.append({"row": i, "column": name, "csv": text, "parquet": repr(r[name])})
    return bad


def main():
    csv_path, pq_path = sys.argv[1], sys.argv[2]
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        csv_rows = list(reader)
    out = {"csv_rows": len(csv_rows), "csv_columns": header}

    # pyarrow
    table = pq.read_table(pq_path)
    out["columns"] = table.column_names
    out["types"] = {f.name: str(f.type) for f in table.schema}
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    # The Parquet file's own key-value metadata (what other Parquet readers see).
    file_meta = {k.decode(): v.decode() for k, v in (pq.ParquetFile(pq_path).metadata.metadata or {}).items()}
    out["file_metadata"] = {k: v for k, v in file_meta.items() if k.startswith("geepipe:") or k == "geo"}
    out["metadata"] = {k: v for k, v in meta.items() if k.startswith("geepipe:")}
    out["geo"] = json.loads(meta["geo"]) if "geo" in meta else None
    rows = table.to_pylist()
    out["rows"] = len(rows)
    out["pyarrow_mismatches"] = compare(header, csv_rows, header, rows)[:5]

    # DuckDB
    con = duckdb.connect()
    rel = con.execute("SELECT * FROM read_parquet(?)", [pq_path])
    names = [d[0] for d in rel.description]
    drows = [dict(zip(names, r)) for r in rel.fetchall()]
    out["duckdb_rows"] = len(drows)
    out["duckdb_types"] = {r[0]: r[1] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [pq_path]).fetchall()}
    out["duckdb_mismatches"] = compare(header, csv_rows, header, drows)[:5]
    kv = con.execute("SELECT key, value FROM parquet_kv_metadata(?)", [pq_path]).fetchall()
    out["duckdb_metadata"] = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in kv
        if (k.decode() if isinstance(k, bytes) else k).startswith("geepipe:")
    }

    if len(sys.argv) > 4 and sys.argv[4] != "none":
        import geopandas

        sites_path, kind = sys.argv[3], sys.argv[4]
        gdf = geopandas.read_parquet(pq_path)
        out["geopandas_crs"] = gdf.crs.to_string() if gdf.crs is not None else None
        sites = geopandas.read_file(sites_path, engine="pyogrio")
        id_column = header[0]
        by_id = {str(k): g for k, g in zip(sites[id_column], sites.geometry)}
        worst = 0.0
        for site_id, geom in zip(gdf[id_column], gdf.geometry):
            want = by_id[str(site_id)]
            if kind == "centroid":
                want = want.centroid
                worst = max(worst, abs(geom.x - want.x), abs(geom.y - want.y))
            else:
                if not geom.equals_exact(want, 0.0):
                    worst = max(worst, geom.hausdorff_distance(want), 1e-300)
        out["geometry_worst"] = worst
        out["geometry_types"] = sorted(set(gdf.geometry.geom_type))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
