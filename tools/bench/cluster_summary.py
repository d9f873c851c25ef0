#!/usr/bin/env python3
"""Medians of tools/bench/cluster.sh runs, by workload and configuration.

Reads JSON lines (cluster.sh's output, each with "w" added by the caller,
e.g. `jq -c '. + {w: "W1"}'`) from the files given or stdin, and prints one
Markdown row per workload and node count: runs that passed their checks,
then medians (with each run's value where it matters).
"""
import json
import statistics
import sys
from collections import defaultdict


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    runs = defaultdict(list)
    for path in sys.argv[1:] or ["-"]:
        f = sys.stdin if path == "-" else open(path)
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            runs[(r.get("w", "?"), r["cluster"]["nodes"])].append(r)
    print("| workload | config | runs ok | deliveries/s, median (runs) "
          "| server CPU us/delivery, bench / whole run (sum of nodes) | Redis CPU us/posted msg "
          "| Redis usec/msg (commandstats) | EVALSHA, commands sent /msg "
          "| XREAD/node/s, events/XREAD | p50 / p99 ms, median (p99 runs) "
          "| load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (w, n), rs in sorted(runs.items()):
        ok = [r for r in rs if r["bench"] and r["bench"].get("ok")
              and r["bench"]["lost"] == 0 and r["bench"]["duplicated"] == 0
              and r["bench"]["out_of_order"] == 0
              and not r["bench"].get("order_mismatch")]
        b = [r["bench"] for r in ok]
        c = [r["cluster"] for r in ok]
        config = "1 node, no Redis" if n == 0 else f"{n} node{'s' if n > 1 else ''} + Redis"
        dps = [x["deliveries_per_s"] for x in b]
        p99s = [x["latency_us"]["p99"] / 1e3 for x in b]
        loads = [x["load"] for x in c]
        print(
            f"| {w} | {config} | {len(ok)}/{len(rs)} "
            f"| {fmt(med(dps), ',.0f')} ({', '.join(f'{d/1e6:.2f}M' if d > 1e6 else f'{d/1e3:.0f}k' for d in dps)}) "
            f"| {fmt(med([x['server_cpu_us_per_delivery'] for x in b]), '.3f')} / {fmt(med([x['node_cpu_us_per_delivery'] for x in c]), '.3f')} "
            f"| {fmt(med([x['redis_cpu_us_per_msg'] for x in c]), '.1f')} "
            f"| {fmt(med([x['redis_usec_per_msg'] for x in c]), '.1f')} "
            f"| {fmt(med([x['evalsha_per_msg'] for x in c]), '.3f')}, {fmt(med([x['calls_per_msg'] for x in c]), '.3f')} "
            f"| {fmt(med([x['xread_per_node_per_s'] for x in c]), '.0f')}, {fmt(med([x['events_per_xread'] for x in c]), '.1f')} "
            f"| {fmt(med([x['latency_us']['p50'] / 1e3 for x in b]), '.2f')} / {fmt(med(p99s), '.2f')} ({', '.join(f'{p:.2f}' for p in p99s)}) "
            f"| {fmt(min(loads) if loads else None, '.1f')}-{fmt(max(loads) if loads else None, '.1f')} |")


if __name__ == "__main__":
    main()
