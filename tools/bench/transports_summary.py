#!/usr/bin/env python3
"""Medians of tools/bench/transports.sh's runs: python3 transports_summary.py FILE."""
import collections
import json
import statistics
import sys

runs = collections.defaultdict(list)
for line in open(sys.argv[1] if len(sys.argv) > 1 else "build-bench/transports.jsonl"):
    row = json.loads(line)
    run = row["run"]
    key = (row["w"], run["transport"] if run else "?", row["build"])
    runs[key].append((run, row["load"]))
for key in sorted(runs):
    ok = [(run, load) for run, load in runs[key] if run and run.get("ok")]
    if not ok:
        print(key, "no run passed")
        continue
    med = lambda xs: statistics.median(xs)
    rate = [r["deliveries_per_s"] for r, _ in ok]
    cpu = [r["server_cpu_us_per_delivery"] for r, _ in ok]
    p50 = [r["latency_us"]["p50"] / 1000 for r, _ in ok]
    p99 = [r["latency_us"]["p99"] / 1000 for r, _ in ok]
    bad = sum(r["lost"] + r["duplicated"] + r["out_of_order"] for r, _ in ok)
    loads = [load for _, load in ok]
    print(f"{key[0]} {key[1]:4} {key[2]:6} {len(ok)}/{len(runs[key])} "
          f"{med(rate)/1000:.0f}k/s ({', '.join(f'{x/1000:.0f}' for x in rate)}) "
          f"cpu {med(cpu):.3f} us ({', '.join(f'{x:.3f}' for x in cpu)}) "
          f"p50 {med(p50):.2f} ms p99 {med(p99):.2f} ms "
          f"({', '.join(f'{x:.2f}' for x in p99)}) lost+dup+ooo {bad} "
          f"load {min(loads)}-{max(loads)}")
