"""Runs a command and prints its wall time (s) and peak resident memory (MiB) as JSON."""
import json
import resource
import subprocess
import sys
import time

t0 = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - t0
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if p.returncode != 0:
    sys.stderr.write(p.stderr.decode(errors="replace"))
    sys.exit(p.returncode)
print(json.dumps({"seconds": round(wall, 3), "peak_mib": round(rss_kib / 1024, 1), "stdout": p.stdout.decode()[-400:]}))
