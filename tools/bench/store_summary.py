# Medians per workload and server configuration from store_runs.sh output:
#   python3 tools/bench/store_summary.py build-bench/store_runs.jsonl
import json,sys,statistics as st
rows=[json.loads(l) for l in open(sys.argv[1])]
from collections import defaultdict
g=defaultdict(list)
for r in rows: g[(r['workload'],r['config'])].append(r)
for w in ['W1T','W3T','W1G']:
  for c in ['memory','batch','every','none']:
    rs=g.get((w,c),[])
    if not rs: continue
    ok=[r for r in rs if r['result'] and r['result']['ok']]
    d=[r['result']['deliveries_per_s'] for r in ok]
    cpu=[r['result']['server_cpu_us_per_delivery'] for r in ok]
    p99=[r['result']['latency_us']['p99']/1000 for r in ok]
    p50=[r['result']['latency_us']['p50']/1000 for r in ok]
    loads=[r['load'] for r in rs]
    lost=sum(r['result']['lost']+r['result']['duplicated']+r['result']['out_of_order'] for r in ok)
    print(f"{w} {c:6} ok {len(ok)}/{len(rs)} deliv/s med {st.median(d)/1e6:.2f}M ({max(d)/1e6:.2f}M) cpu/deliv {st.median(cpu):.3f}us p50 {st.median(p50):.2f} p99 {st.median(p99):.2f}ms load {min(loads)}-{max(loads)} lost/dup/ooo {lost} runs d={[round(x/1e6,2) for x in d]} p99={[round(x,2) for x in p99]}")
