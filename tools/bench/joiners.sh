#!/usr/bin/env bash
# 50 gRPC members join a room of 1000 messages of 4000 bytes at once, each
# asking for --history 1000; server RSS before and after (peak too).
set -u
cd "$(dirname "$0")/../.."
B=build-bench
MODE=${1:-memory}   # memory | store | store-cold
D=$(mktemp -d /tmp/joiners.XXXXXX)
args="--grpc_addr=127.0.0.1:0 --legacy_addr=127.0.0.1:0 --http_addr= --flood_rate=0 --max_connections_per_ip=0"
case $MODE in
  store) args="$args --data_dir=$D/data";;
  store-cold) args="$args --data_dir=$D/data --history_memory=1MiB";;
esac
$B/service/chat-service $args > $D/ready 2>$D/log &
pid=$!
for i in $(seq 100); do grep -q ready $D/ready && break; sleep 0.05; done
g=$(grep -o 'grpc=[0-9.:]*' $D/ready | cut -d= -f2)
l=$(grep -o 'legacy=[0-9.:]*' $D/ready | cut -d= -f2)
$B/cli/chatctl bench --server=$g --legacy_server=$l --transport=tcp --room=big --receivers=1 --senders=1 --messages=1000 --size=4000 --noprogress >/dev/null 2>&1
rss() { grep -E "^$1:" /proc/$pid/status | awk '{print $2}'; }
sleep 0.5
base=$(rss VmRSS)
for i in $(seq 1 50); do
  (sleep 30 | $B/cli/chatctl join --server=$g --name u$i --room big --history 1000 > $D/u$i.out 2>/dev/null) &
done
start=$(date +%s.%N)
for t in $(seq 600); do
  done_n=0
  for i in $(seq 1 50); do grep -q "^-- u$i joined" $D/u$i.out 2>/dev/null && done_n=$((done_n+1)); done
  [ $done_n = 50 ] && break
  sleep 0.1
done
end=$(date +%s.%N)
msgs=$(cat $D/u*.out | grep -c "^<")
echo "mode=$MODE joined=$done_n replayed_lines=$msgs in $(echo "$end - $start" | bc) s; RSS before ${base} KiB, after $(rss VmRSS) KiB, peak $(rss VmHWM) KiB"
kill $pid; wait $pid 2>/dev/null
pkill -f "chatctl join --server=$g" 2>/dev/null
rm -rf $D
