"""Runs a command and prints its wall time, CPU time (user + system, s), peak resident memory (MiB) and start
(Unix seconds) as JSON."""
import json
import resource
import subprocess
import sys
import time

started = time.time()
t0 = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
rss_kib = ru.ru_maxrss
cpu = ru.ru_utime + ru.ru_stime
if p.returncode != 0:
    sys.stderr.write(p.stderr.decode(errors="replace"))
    sys.exit(p.returncode)
print(json.dumps({"seconds": round(wall, 3), "cpu_seconds": round(cpu, 3), "peak_mib": round(rss_kib / 1024, 1), "started_at": started, "stdout": p.stdout.decode()}))
