#!/usr/bin/env bash
# W1 and W3 over tcp, grpc and ws, for two chat-service builds side by side
# (BEFORE: an older build, without the HTTP port; AFTER: this tree's), in
# alternating runs, a fresh server per run. One JSON line per run in OUT;
# tools/bench/transports_summary.py prints the medians.
#   BEFORE=/tmp/before/build-bench/service/chat-service tools/bench/transports.sh
set -u
cd "$(dirname "$0")/../.."
CHATCTL=${CHATCTL:-build-bench/cli/chatctl}
AFTER=${AFTER:-build-bench/service/chat-service}
BEFORE=${BEFORE:-}
REPEAT=${REPEAT:-3}
WORKLOADS=${WORKLOADS:-"W1 W3"}
TRANSPORTS=${TRANSPORTS:-"tcp grpc ws"}
OUT=${OUT:-build-bench/transports.jsonl}
declare -A W=(
  [W1]="--receivers=100 --senders=1 --messages=20000 --size=64"
  [W3]="--receivers=100 --senders=10 --rate=1000 --duration=10 --size=64")
for r in $(seq 1 "$REPEAT"); do
for w in $WORKLOADS; do
for t in $TRANSPORTS; do
for build in before after; do
  if [ "$build" = before ]; then
    [ -z "$BEFORE" ] || [ "$t" = ws ] && continue
    server=$BEFORE; extra=""
  else
    server=$AFTER; extra="--http_addr=127.0.0.1:0 --flood_rate=0 --max_connections_per_ip=0"
  fi
  dir=$(mktemp -d /tmp/transports.XXXXXX)
  $server --grpc_addr=127.0.0.1:0 --legacy_addr=127.0.0.1:0 $extra \
      --max_connections=20000 > "$dir/ready" 2>/dev/null &
  pid=$!
  for i in $(seq 100); do grep -q ready "$dir/ready" && break; sleep 0.05; done
  g=$(grep -o 'grpc=[0-9.:]*' "$dir/ready" | cut -d= -f2)
  l=$(grep -o 'legacy=[0-9.:]*' "$dir/ready" | cut -d= -f2)
  h=$(grep -o 'http=[0-9.:]*' "$dir/ready" | cut -d= -f2)
  load=$(cut -d' ' -f1 /proc/loadavg)
  res=$($CHATCTL bench --server_pid=$pid --server="$g" --legacy_server="$l" \
      ${h:+--http_server=$h} --transport="$t" ${W[$w]} --noprogress --json 2>/dev/null)
  echo "{\"round\":$r,\"w\":\"$w\",\"build\":\"$build\",\"load\":$load,\"run\":${res:-null}}" >> "$OUT"
  kill $pid; wait $pid 2>/dev/null
  rm -rf "$dir"
done
done
done
done
