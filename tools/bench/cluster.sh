#!/usr/bin/env bash
# One chatctl bench run against N chat-service nodes sharing rooms through a
# fresh Redis (--redis), or against one node without Redis (NODES=0, the
# baseline). Prints one JSON line: the bench's own JSON object plus what the
# run cost Redis and the nodes, per posted message and per delivery.
#
#   tools/bench/cluster.sh NODES [chatctl bench flags...]
#   tools/bench/cluster.sh 3 --transport=tcp --receivers=100 --senders=1 \
#       --messages=20000 --size=64 >> build-bench/cluster.jsonl
#
# What it does, each run from scratch:
#   - NODES >= 1: a redis-server on a free port of 127.0.0.1, no persistence
#     (--save "" --appendonly no), in a scratch directory, stopped by its pid
#     at the end; then NODES chat-service nodes with --redis=127.0.0.1:PORT.
#     NODES = 0: one chat-service without --redis.
#   - Every node listens on 127.0.0.1:0 (grpc, legacy, http) and is read
#     from its ready line. Flood control and the per-address caps are off
#     (--flood_rate=0 --max_connections_per_ip=0 --max_rooms_per_ip=0
#     --max_connections=20000): the bench's members all come from 127.0.0.1
#     and post far faster than a person, which is what a benchmark is for.
#   - redis-cli CONFIG RESETSTAT, then one `chatctl bench --json` with
#     --server/--legacy_server/--http_server listing every node (the bench
#     spreads members round-robin, receivers first, then senders).
#   - Around the bench: the CPU time (utime + stime, /proc/PID/stat) of
#     redis-server and of each node; after it, INFO commandstats.
#
# Added to the bench's JSON (under "cluster"):
#   nodes, redis (true/false), load (1-minute load average before the run),
#   node_cpu_s (each node, whole bench run: joins included),
#   node_cpu_us_per_delivery (summed over the nodes),
#   redis_cpu_s, redis_cpu_us_per_msg, per posted message (the bench's
#   "sent"): evalsha, xread, calls (the commands the nodes send: every
#   command in INFO commandstats except those only room_script.lua calls,
#   which Redis 7 counts too; a join's SADD is counted as sent, it is few),
#   redis_usec_per_msg (usec of those commands: a script's inner commands
#   are inside its EVALSHA's usec), xread_per_node_per_s, events_per_xread
#   (events the nodes read back, sent x nodes, over XREADs), and cmdstats
#   (calls and usec of every command).
#
# Environment: CHAT_SERVICE, CHATCTL (build-bench's by default),
# REDIS_SERVER, REDIS_CLI, PERF=FILE (perf record -e cpu-clock -g of the
# nodes and redis-server during the bench, into FILE; `perf report
# --sort comm,dso` splits them), KEEP=1 (keep the scratch directory).
set -u
cd "$(dirname "$0")/../.." || exit 2

CHAT_SERVICE=${CHAT_SERVICE:-build-bench/service/chat-service}
CHATCTL=${CHATCTL:-build-bench/cli/chatctl}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
PERF=${PERF:-}
KEEP=${KEEP:-}

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 NODES [chatctl bench flags...]   (NODES=0: one node, no Redis)" >&2
  exit 2
fi
NODES=$1
shift

scratch=$(mktemp -d /tmp/cluster-bench.XXXXXX)
redis_pid=""
redis_port=""
node_pids=()
perf_pid=""

# Stops what this script started, by pid: the nodes first (a clean stop
# takes their members out in Redis), then Redis.
cleanup() {
  [ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null
  for pid in "${node_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [ -n "$redis_pid" ]; then
    kill -TERM "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
  fi
  if [ -z "$KEEP" ]; then rm -rf "$scratch"; else echo "kept $scratch" >&2; fi
}
trap cleanup EXIT

die() {
  echo "cluster.sh: $*" >&2
  exit 1
}

# CPU seconds (utime + stime) of a process so far. The fields after the
# command name, which is in parentheses and may hold spaces: utime and stime
# are the 14th and 15th fields of the whole line.
cpu_s() {
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  rest=${stat##*) }
  # shellcheck disable=SC2086
  set -- $rest
  echo "${12} ${13}" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($1 + $2) / hz}'
}

rcli() { "$REDIS_CLI" -h 127.0.0.1 -p "$redis_port" "$@"; }

# A fresh redis-server on a free port: Redis cannot take port 0, so try
# ports nobody listens on until one starts and answers PING.
start_redis() {
  local attempt port i
  for attempt in $(seq 20); do
    port=$((20000 + RANDOM % 40000))
    if ss -Htln "sport = :$port" | grep -q .; then continue; fi
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$scratch" --logfile "$scratch/redis.log" --daemonize no &
    redis_pid=$!
    redis_port=$port
    for i in $(seq 50); do
      if rcli PING 2>/dev/null | grep -q PONG; then return 0; fi
      kill -0 "$redis_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -TERM "$redis_pid" 2>/dev/null
    wait "$redis_pid" 2>/dev/null
    redis_pid=""
    : "$attempt" "$i"
  done
  die "no redis-server would start (see $scratch/redis.log)"
}

# One node; appends its pid to node_pids and its addresses to the lists.
grpc_list=""
legacy_list=""
http_list=""
start_node() {
  local n=$1 i ready
  local args=(--grpc_addr=127.0.0.1:0 --legacy_addr=127.0.0.1:0
              --http_addr=127.0.0.1:0 --flood_rate=0 --max_connections_per_ip=0
              --max_rooms_per_ip=0 --max_connections=20000)
  [ -n "$redis_port" ] && args+=(--redis=127.0.0.1:"$redis_port")
  "$CHAT_SERVICE" "${args[@]}" > "$scratch/ready.$n" 2> "$scratch/node.$n.log" &
  node_pids+=($!)
  for i in $(seq 200); do
    grep -qs ready "$scratch/ready.$n" && break
    kill -0 "${node_pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  ready=$(cat "$scratch/ready.$n")
  [[ $ready == *ready* ]] || die "node $n did not start: $(tail -3 "$scratch/node.$n.log")"
  : "$i"
  grpc_list+=${grpc_list:+,}$(grep -o 'grpc=[0-9.:]*' <<< "$ready" | cut -d= -f2)
  legacy_list+=${legacy_list:+,}$(grep -o 'legacy=[0-9.:]*' <<< "$ready" | cut -d= -f2)
  http_list+=${http_list:+,}$(grep -o 'http=[0-9.:]*' <<< "$ready" | cut -d= -f2)
}

count=$NODES
if [ "$NODES" -eq 0 ]; then
  count=1
else
  start_redis
fi
for n in $(seq "$count"); do start_node "$n"; done

load=$(cut -d' ' -f1 /proc/loadavg)
if [ -n "$redis_port" ]; then
  rcli CONFIG RESETSTAT > /dev/null || die "CONFIG RESETSTAT failed"
  redis_before=$(cpu_s "$redis_pid")
fi
nodes_before=()
for pid in "${node_pids[@]}"; do nodes_before+=("$(cpu_s "$pid")"); done

if [ -n "$PERF" ]; then
  perf record -e cpu-clock -g -o "$PERF" \
      -p "$(IFS=,; echo "${node_pids[*]}${redis_pid:+,$redis_pid}")" > /dev/null 2>&1 &
  perf_pid=$!
fi

bench=$("$CHATCTL" bench --server="$grpc_list" --legacy_server="$legacy_list" \
    --http_server="$http_list" "$@" --json --noprogress 2> "$scratch/bench.err")
bench_rc=$?

if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid" 2>/dev/null
  wait "$perf_pid" 2>/dev/null
  perf_pid=""
fi

nodes_cpu=()
for i in "${!node_pids[@]}"; do
  nodes_cpu+=("$(awk -v a="${nodes_before[$i]}" -v b="$(cpu_s "${node_pids[$i]}")" \
      'BEGIN {printf "%.3f", b - a}')")
done
redis_cpu=0
stats="{}"
if [ -n "$redis_port" ]; then
  redis_cpu=$(awk -v a="$redis_before" -v b="$(cpu_s "$redis_pid")" \
      'BEGIN {printf "%.3f", b - a}')
  # cmdstat_evalsha:calls=N,usec=U,... as {"evalsha": {"calls": N, "usec": U}}
  stats=$(rcli INFO commandstats | tr -d '\r' | awk -F'[:,=]' '
      /^cmdstat_/ {
        name = substr($1, 9)
        if (name == "config|resetstat" || name == "info") next
        printf "%s\"%s\":{\"calls\":%s,\"usec\":%s}", sep, name, $3, $5
        sep = ","
      }
      BEGIN { printf "{" } END { printf "}" }')
fi
# The commands only the script calls (Redis 7 counts them in commandstats).
inner=$(grep -o "redis.call('[A-Z]*'" redis/room_script.lua | cut -d"'" -f2 \
    | grep -vx SADD | tr '[:upper:]' '[:lower:]' | sort -u | jq -R . | jq -sc .)

[ -n "$bench" ] || bench=null
jq -cn --argjson bench "$bench" --argjson stats "$stats" --argjson inner "$inner" \
    --argjson nodes "$NODES" --argjson load "$load" --argjson rc "$bench_rc" \
    --argjson redis_cpu "$redis_cpu" \
    --argjson node_cpu "[$(IFS=,; echo "${nodes_cpu[*]}")]" '
  def r(x; n): (x * pow(10; n) | round) / pow(10; n);
  ($bench.sent // 0) as $sent
  | (if $sent > 0 then $sent else 1 end) as $m
  | (($bench.deliveries // 0) | if . > 0 then . else 1 end) as $d
  | ($stats.evalsha.calls // 0) as $ev
  | ($stats.xread.calls // 0) as $xr
  | ([$stats | to_entries[] | select(.key as $k | $inner | index($k) | not)]) as $sentcmds
  | {bench: $bench, exit: $rc,
     cluster: {
       nodes: $nodes, redis: ($nodes > 0), load: $load,
       node_cpu_s: $node_cpu,
       node_cpu_us_per_delivery: r(($node_cpu | add) * 1e6 / $d; 4),
       redis_cpu_s: $redis_cpu,
       redis_cpu_us_per_msg: r($redis_cpu * 1e6 / $m; 3),
       evalsha_per_msg: r($ev / $m; 4),
       xread_per_msg: r($xr / $m; 4),
       calls_per_msg: r(([$sentcmds[].value.calls] | add // 0) / $m; 4),
       redis_usec_per_msg: r(([$sentcmds[].value.usec] | add // 0) / $m; 3),
       evalsha_usec_per_call: (if $ev > 0 then r($stats.evalsha.usec / $ev; 2) else null end),
       xread_per_node_per_s: (if $nodes > 0 and ($bench.elapsed_s // 0) > 0
                              then r($xr / $nodes / $bench.elapsed_s; 1) else null end),
       events_per_xread: (if $xr > 0 then r($sent * $nodes / $xr; 2) else null end),
       cmdstats: $stats}}'
