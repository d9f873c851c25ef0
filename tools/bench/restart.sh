#!/usr/bin/env bash
# chat-service's start on a store of 1,000,000 events over 1000 rooms:
# time to the ready line, after a clean stop and after a SIGKILL.
set -u
cd "$(dirname "$0")/../.."
B=build-bench
D=$(mktemp -d /tmp/restart.XXXXXX)
start_server() {  # prints seconds to ready
  local t0=$(date +%s.%N)
  $B/service/chat-service --grpc_addr=127.0.0.1:0 --legacy_addr=127.0.0.1:0 --http_addr= --flood_rate=0 --data_dir=$D/data > $D/ready 2>$D/log &
  pid=$!
  while ! grep -q ready $D/ready 2>/dev/null; do sleep 0.005; done
  echo "$(date +%s.%N) - $t0" | bc > $D/took
}
start_server
g=$(grep -o 'grpc=[0-9.:]*' $D/ready | cut -d= -f2); l=$(grep -o 'legacy=[0-9.:]*' $D/ready | cut -d= -f2)
$B/cli/chatctl bench --server=$g --legacy_server=$l --transport=tcp --room=room0 --receivers=1 --senders=1 --messages=1000 --size=64 --noprogress >/dev/null 2>&1
kill -TERM $pid; wait $pid
# 999 more rooms with the same 1000 events each (ids 2..1000).
sqlite3 $D/data/chat.db <<SQL
CREATE TEMP TABLE src AS SELECT id FROM rooms WHERE name = 'room0';
CREATE TEMP TABLE base AS SELECT max(id) AS m FROM rooms;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 999)
INSERT INTO rooms(id, name, epoch, last_seq, reserved_seq, contiguous_from)
  SELECT base.m + i, 'room' || i, printf('%016x', abs(random())), r.last_seq, r.reserved_seq, r.contiguous_from
  FROM n, base, rooms r WHERE r.id = (SELECT id FROM src);
INSERT INTO events(room_id, seq, time_s, is_message, body)
  SELECT r.id, e.seq, e.time_s, e.is_message, e.body FROM rooms r, events e, base
  WHERE r.id > base.m AND e.room_id = (SELECT id FROM src);
SQL
echo "events: $(sqlite3 $D/data/chat.db 'select count(*) from events'), rooms: $(sqlite3 $D/data/chat.db 'select count(*) from rooms'), bytes: $(du -sb $D/data | cut -f1)"
for run in 1 2 3; do
  start_server; echo "clean start $run: $(cat $D/took) s"
  g=$(grep -o 'grpc=[0-9.:]*' $D/ready | cut -d= -f2)
  t0=$(date +%s.%N); $B/cli/chatctl history --server=$g --room=room500 --last 50 > /dev/null; echo "  first history of 50 from room500: $(echo "$(date +%s.%N) - $t0" | bc) s (chatctl, incl. its start)"
  kill -TERM $pid; wait $pid
done
for run in 1 2 3; do
  start_server; kill -KILL $pid; wait $pid 2>/dev/null
  start_server; echo "start after SIGKILL $run: $(cat $D/took) s"
  kill -TERM $pid; wait $pid
done
grep -h "not shut down cleanly" $D/log | tail -1
rm -rf $D
