#!/usr/bin/env python3
"""Writes a GeoJSON FeatureCollection of N small site polygons (every 10th a MultiPolygon) for benchmarks.

Usage: gen-sites.py N OUT.geojson

Streams the output (one feature per line), so generating a million features needs little memory.
"""
import random
import sys


def ring(x, y, d):
    return f"[[{x:.6f},{y:.6f}],[{x + d:.6f},{y:.6f}],[{x + d:.6f},{y + d:.6f}],[{x:.6f},{y + d:.6f}],[{x:.6f},{y:.6f}]]"


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(42)
    with open(out, "w", encoding="utf-8") as f:
        f.write('{"type": "FeatureCollection", "name": "bench",\n "features": [\n')
        for i in range(n):
            x, y = rnd.uniform(-70, -35), rnd.uniform(-30, 5)
            d = rnd.uniform(0.001, 0.01)
            if i % 10 == 9:
                geom = f'{{"type": "MultiPolygon", "coordinates": [[{ring(x, y, d)}], [{ring(x + 2 * d, y, d)}]]}}'
            else:
                geom = f'{{"type": "Polygon", "coordinates": [{ring(x, y, d)}]}}'
            sep = ",\n" if i + 1 < n else "\n"
            f.write(
                f'  {{"type": "Feature", "properties": {{"site_id": "s{i:07d}", "name": "Site {i}", '
                f'"planted": {2000 + i % 20}}}, "geometry": {geom}}}{sep}'
            )
        f.write(" ]\n}\n")


if __name__ == "__main__":
    main()
