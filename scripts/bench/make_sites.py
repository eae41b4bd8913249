"""Writes N synthetic site polygons (GeoJSON) for the planning benchmark: irregular 12-gons in Brazil."""
import json
import math
import random
import sys

n = int(sys.argv[1])
out = sys.argv[2]
rnd = random.Random(42)
feats = []
for i in range(n):
    cx = -55.0 + (i % 200) * 0.02 + rnd.uniform(-0.004, 0.004)
    cy = -12.0 - (i // 200) * 0.02 + rnd.uniform(-0.004, 0.004)
    ring = []
    for k in range(12):
        a = k / 12 * 2 * math.pi
        r = 0.004 * (0.7 + 0.3 * rnd.random())
        ring.append([round(cx + r * math.cos(a), 6), round(cy + r * math.sin(a), 6)])
    ring.append(ring[0])
    feats.append({"type": "Feature", "properties": {"site_id": f"site{i:06d}"},
                  "geometry": {"type": "Polygon", "coordinates": [ring]}})
with open(out, "w") as f:
    json.dump({"type": "FeatureCollection", "features": feats}, f)
