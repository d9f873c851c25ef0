#!/usr/bin/env bash
# check_deb.sh BUILD_DIR: makes the Debian package from BUILD_DIR's binaries
# (cpack -G DEB; BUILD_DIR is built and configured with
# -DCMAKE_INSTALL_PREFIX=/usr, as ./dev test does) and checks it:
#   - lintian finds no errors (its warnings are shown);
#   - systemd-analyze verify passes on the unit, with its commands and its
#     man page looked up in the unpacked package, and the unit's exposure
#     (systemd-analyze security) stays under MAX_EXPOSURE;
#   - the package holds the binaries, the man pages (groff has nothing to
#     say about them, and they list every flag and command --help does),
#     the unit, and /etc/default/chat-service as a conffile whose flags exist;
#   - unpacked into a scratch root (dpkg -x), chat-service runs with the
#     unit's command line and the default file's flags (ports moved to
#     127.0.0.1:0, the state directory to scratch), the installed chatctl
#     sends a message and finds it in the history, systemd's notify socket
#     (a stand-in) hears READY=1, and SIGTERM stops the server with exit 0
#     and its log lines in key=value form.
# Leaves nothing behind; with KEEP_DEB=DIR the .deb is copied to DIR.
set -euo pipefail

MAX_EXPOSURE=2.0

build=$(cd "${1:?usage: packaging/check_deb.sh BUILD_DIR}" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/chat-deb.XXXXXX")
server_pid=
notify_pid=
cleanup() {
  for pid in $server_pid $notify_pid; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "check_deb: $*" >&2
  exit 1
}

# The package.
(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack failed"; }
debs=("$work"/out/chatroom_*.deb)
[ -f "${debs[0]}" ] || fail "cpack made no chatroom_*.deb in $work/out"
deb=${debs[0]}
if [ -n "${KEEP_DEB:-}" ]; then cp "$deb" "$KEEP_DEB/"; fi
echo "check_deb: $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB;" \
  "$(dpkg-deb -f "$deb" Depends)"

# lintian: errors fail, the rest is shown.
lintian --fail-on error --tag-display-limit 0 "$deb" >"$work/lintian" 2>&1 ||
  { cat "$work/lintian"; fail "lintian found errors"; }
grep -v "running with root privileges" "$work/lintian" || true
echo "check_deb: lintian: no errors," \
  "$(grep -c '^W: ' "$work/lintian" || true) warnings"

# The files.
root=$work/root
dpkg -x "$deb" "$root"
unit=$root/lib/systemd/system/chat-service.service
for f in usr/bin/chat-service usr/bin/chatctl etc/default/chat-service \
  usr/share/man/man1/chat-service.1.gz usr/share/man/man1/chatctl.1.gz \
  usr/share/doc/chatroom/copyright usr/share/doc/chatroom/changelog.gz \
  lib/systemd/system/chat-service.service; do
  [ -e "$root/$f" ] || fail "the package has no /$f"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/default/chat-service ||
  fail "/etc/default/chat-service is not a conffile"

# The man pages: groff says nothing, and they list what --help lists.
for page in chat-service chatctl; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l \
    "$root/usr/share/man/man1/$page.1.gz" 2>&1 >/dev/null)
  [ -z "$warnings" ] || fail "man $page: $warnings"
done
service_help=$("$root/usr/bin/chat-service" --help || true)  # Abseil: exit 1.
chat_man=$(zcat "$root/usr/share/man/man1/chat-service.1.gz")
for flag in $(grep -o '^    --[a-z_0-9]*' <<<"$service_help" | tr -d ' -'); do
  grep -qF -- "\\-\\-$flag\\fR" <<<"$chat_man" || fail "chat-service.1 lacks --$flag"
done
chatctl_man=$(zcat "$root/usr/share/man/man1/chatctl.1.gz")
for command in $("$root/usr/bin/chatctl" help | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
  grep -qF ".SS \"$command " <<<"$chatctl_man" || fail "chatctl.1 lacks $command"
done
# The flags the default file suggests exist.
for flag in $(grep -o -- '--[a-z_]*=' "$root/etc/default/chat-service" | tr -d '=-' | sort -u); do
  grep -q -- "^    --$flag " <<<"$service_help" ||
    fail "/etc/default/chat-service names --$flag, which chat-service lacks"
done

# The unit: systemd-analyze verify with the unpacked binary and man pages
# in place of /usr's (systemd is not running here: verify, not start).
mkdir "$work/unit"
sed -e "s|/usr/bin/chat-service|$root/usr/bin/chat-service|" \
  -e "s|/etc/default/chat-service|$root/etc/default/chat-service|" \
  "$unit" >"$work/unit/chat-service.service"
MANPATH=$root/usr/share/man systemd-analyze verify \
  "$work/unit/chat-service.service" ||
  fail "systemd-analyze verify: the unit has problems (above)"
exposure=$(systemd-analyze security --offline=true \
  --threshold="${MAX_EXPOSURE/./}" "$work/unit/chat-service.service" 2>&1 |
  sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p') ||
  fail "systemd-analyze security: the unit's exposure is over $MAX_EXPOSURE"
echo "check_deb: systemd-analyze verify passes; exposure $exposure (at most $MAX_EXPOSURE)"

# The installed binaries: chat-service with the unit's command line and the
# default file's flags, then ports on 127.0.0.1:0 and the state in scratch.
# shellcheck disable=SC1091  # The package's, found at run time.
args=$(. "$root/etc/default/chat-service" && echo "${CHAT_SERVICE_ARGS:-}")
read -ra command <<<"$(sed -n 's/^ExecStart=//p' "$unit")"
run=()
for word in "${command[@]}"; do
  case "$word" in
    /usr/bin/chat-service) run+=("$root$word") ;;
    --data_dir=/var/lib/chatroom) run+=("--data_dir=$work/state") ;;
    "\$CHAT_SERVICE_ARGS") read -ra extra <<<"$args" && run+=("${extra[@]}") ;;
    *) run+=("$word") ;;
  esac
done
[ "${run[0]}" = "$root/usr/bin/chat-service" ] ||
  fail "ExecStart runs ${command[0]}, not /usr/bin/chat-service"
mkdir "$work/state"
# systemd's notify socket, played by python3 (Type=notify: the unit relies
# on READY=1): it says "bound", then prints what it receives.
mkfifo "$work/stdout" "$work/notified"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(30)
print("bound", flush=True)
print(s.recv(4096).decode().replace("\n", " "), flush=True)
' "$work/notify" >"$work/notified" &
notify_pid=$!
exec 4<"$work/notified"
read -r -t 30 bound <&4 || true
[ "${bound:-}" = bound ] || fail "the stand-in notify socket did not start"
NOTIFY_SOCKET=$work/notify "${run[@]}" --grpc_addr=127.0.0.1:0 \
  --legacy_addr=127.0.0.1:0 --http_addr=127.0.0.1:0 \
  >"$work/stdout" 2>"$work/stderr" &
server_pid=$!
exec 3<"$work/stdout"
ready=
read -r -t 30 ready <&3 || true
[[ "$ready" == "chat-service ready "* ]] ||
  { cat "$work/stderr"; fail "the installed chat-service did not start: '$ready'"; }
notified=
read -r -t 30 notified <&4 || true
[ "$notified" = "READY=1 STATUS=$ready" ] ||
  fail "chat-service told systemd '$notified', not READY=1 with its ready line"
wait "$notify_pid"
notify_pid=
exec 4<&-
grpc=${ready#* grpc=}
grpc=${grpc%% *}
chatctl=$root/usr/bin/chatctl
"$chatctl" send --server="$grpc" --name=debcheck "hello from the package" ||
  fail "chatctl send failed"
history=$("$chatctl" history --server="$grpc" --color=never)
grep -qF "<debcheck> hello from the package" <<<"$history" ||
  fail "chatctl history lacks the message: $history"
kill -TERM "$server_pid"
code=0
wait "$server_pid" || code=$?
server_pid=
exec 3<&-
[ "$code" = 0 ] || { cat "$work/stderr"; fail "chat-service exited $code on SIGTERM"; }
for line in ' level=info msg="joined" member=debcheck room=lobby transport=grpc' \
  ' level=info msg="stopped"'; do
  grep -qF -- "$line" "$work/stderr" ||
    { cat "$work/stderr"; fail "chat-service's log lacks '$line'"; }
done
[ -n "$(ls -A "$work/state")" ] ||
  fail "nothing in --data_dir: the unit's --data_dir was not used"
echo "check_deb: installed chat-service and chatctl chatted ($ready)"
