"""The same plan built with the official Earth Engine Python client (earthengine-api), offline.

Builds, for every chunk of 50 sites, the computation geepipe sends (one reduceRegions per layer over all
years, grouped sums of true pixel area and pixel count per class, the per-feature map writing JSON text
cells), serialises it with `ee.serializer.encode(..., for_cloud_api=True)` as `ee.batch.Export` does, and
writes the table:export bodies. No network: the algorithm signatures come from the copy shipped in the
package (ee/tests/algorithms.json), and `ee.data.initialize` is replaced so nothing is contacted.

Usage: python official_client.py SITES.geojson OUT_DIR YEAR_FROM YEAR_TO SITES_PER_TASK
"""
import json
import os
import socket
import sys

# Refuse any non-loopback connection, as the captures did.
_orig = socket.socket.connect
def _guard(self, addr):
    if self.family in (socket.AF_INET, socket.AF_INET6) and addr[0] not in ("127.0.0.1", "::1", "localhost"):
        raise ConnectionRefusedError("benchmark: network disabled")
    return _orig(self, addr)
socket.socket.connect = _guard

import ee  # noqa: E402
from ee import _cloud_api_utils  # noqa: E402

ALGS = os.path.join(os.path.dirname(ee.__file__), "tests", "algorithms.json")
with open(ALGS) as f:
    _algorithms = json.load(f)
ee.data.getAlgorithms = lambda: _cloud_api_utils.convert_algorithms(_algorithms)
ee.data.initialize = lambda **kw: None
ee.deprecation._FetchDataCatalogStac = lambda: {}
ee.Initialize(credentials=None, project="bench-project")

sites_path, out_dir, y0, y1, per_task = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
years = list(range(y0, y1 + 1))
ASSET = "projects/mapbiomas-public/assets/brazil/lulc/collection10/mapbiomas_brazil_collection10_coverage_v2"
LAYER = "mapbiomas_lulc"

with open(sites_path) as f:
    features = json.load(f)["features"]

selectors = ["site_id"]
for y in years:
    selectors += [f"{LAYER}__{y}__ha", f"{LAYER}__{y}__px"]


def computation(fc):
    parts = []
    for y in years:
        cls = ee.Image(ASSET).select([f"classification_{y}"]).select([0], [f"{LAYER}__{y}__class"])
        m = cls.mask()
        ha = ee.Image.pixelArea().multiply(ee.Image.constant(0.0001)).updateMask(m).rename([f"{LAYER}__{y}__area"])
        px = ee.Image.constant(1).updateMask(m).rename([f"{LAYER}__{y}__pixels"])
        parts += [ha, px, cls]
    image = ee.Image(ee.ApiFunction.call_("Image.cat", parts))
    group = ee.Reducer.sum().forEach(["ha", "px"]).group(groupField=2, groupName="class")
    reducer = group.forEach([f"{LAYER}__{y}" for y in years])
    reduced = image.reduceRegions(collection=fc, reducer=reducer, scale=30)

    def cells(f):
        f = ee.Feature(f)
        d = f.toDictionary()
        props = {}
        for y in years:
            groups = ee.List(d.get(f"{LAYER}__{y}", []))
            keys = groups.map(lambda g: ee.Number(ee.Dictionary(g).get("class")).toInt().format("%d"))
            for col, field in ((f"{LAYER}__{y}__ha", "ha"), (f"{LAYER}__{y}__px", "px")):
                vals = groups.map(lambda g, field=field: ee.Dictionary(g).get(field))
                props[col] = ee.String.encodeJSON(ee.Dictionary.fromLists(keys, vals))
        return f.set(props)

    return reduced.map(cells)


import time  # noqa: E402

os.makedirs(out_dir, exist_ok=True)
started = time.perf_counter()
total = 0
for c, start in enumerate(range(0, len(features), per_task)):
    chunk = features[start:start + per_task]
    fc = ee.FeatureCollection([
        ee.Feature(ee.Geometry.Polygon(ft["geometry"]["coordinates"]), {"site_id": ft["properties"]["site_id"]})
        for ft in chunk
    ])
    body = {
        "expression": ee.serializer.encode(computation(fc), for_cloud_api=True),
        "description": f"bench_c{c:05d}",
        "requestId": f"bench-c{c:05d}",
        "selectors": selectors,
        "fileExportOptions": {"fileFormat": "CSV",
                              "cloudStorageDestination": {"bucket": "bench-bucket", "filenamePrefix": f"bench/c{c:05d}"}},
    }
    text = json.dumps(body, separators=(",", ":"))
    total += len(text)
    with open(os.path.join(out_dir, f"c{c:05d}.json"), "w") as f:
        f.write(text + "\n")
print(json.dumps({"tasks": c + 1, "total_request_bytes": total, "build_seconds": round(time.perf_counter() - started, 3)}))
