#!/usr/bin/env bash
# W1 TCP, W3 TCP, W1 gRPC against chat-service in memory and with --data_dir
# for each --sync; a fresh server (and a fresh store) per run.
set -u
cd "$(dirname "$0")/../.."
B=build-bench
REPEAT=${REPEAT:-3}
CONFIGS=${CONFIGS:-"memory batch every none"}
WORKLOADS=${WORKLOADS:-"W1T W3T W1G"}
OUT=${OUT:-build-bench/store_runs.jsonl}
for r in $(seq 1 $REPEAT); do
for cfg in $CONFIGS; do
for w in $WORKLOADS; do
  dir=$(mktemp -d /tmp/roombench.XXXXXX)
  args="--grpc_addr=127.0.0.1:0 --legacy_addr=127.0.0.1:0 --http_addr= --max_connections=20000 --flood_rate=0 --max_connections_per_ip=0"
  [ "$cfg" != memory ] && args="$args --data_dir=$dir/data --sync=$cfg"
  $B/service/chat-service $args > $dir/ready 2>$dir/log &
  pid=$!
  for i in $(seq 100); do grep -q ready $dir/ready && break; sleep 0.05; done
  g=$(grep -o 'grpc=[0-9.:]*' $dir/ready | cut -d= -f2)
  l=$(grep -o 'legacy=[0-9.:]*' $dir/ready | cut -d= -f2)
  base="$B/cli/chatctl bench --server=$g --legacy_server=$l --server_pid=$pid --json --noprogress"
  case $w in
    W1T) cmd="$base --transport=tcp --receivers=100 --senders=1 --messages=20000 --size=64";;
    W3T) cmd="$base --transport=tcp --receivers=100 --senders=10 --rate=1000 --duration=10 --size=64";;
    W1G) cmd="$base --transport=grpc --receivers=100 --senders=1 --messages=20000 --size=64";;
  esac
  load=$(cut -d' ' -f1 /proc/loadavg)
  res=$(timeout 200 $cmd 2>$dir/bench.err)
  bytes=""
  if [ "$cfg" != memory ]; then
    kill -TERM $pid; wait $pid 2>/dev/null
    events=$(sqlite3 $dir/data/chat.db "select count(*) from events" 2>/dev/null)
    size=$(du -sb $dir/data | cut -f1)
    bytes="\"store_events\": $events, \"store_bytes\": $size, "
  else
    kill -TERM $pid; wait $pid 2>/dev/null
  fi
  echo "{\"run\": $r, \"config\": \"$cfg\", \"workload\": \"$w\", \"load\": $load, $bytes \"result\": ${res:-null}}" >> $OUT
  rm -rf $dir
done; done; done
