// The systemd readiness protocol (sd_notify), without libsystemd.
//
// A unit with Type=notify (packaging/chat-service.service) waits for the
// service to say "READY=1" before `systemctl start` returns, so a service
// that cannot bind its ports fails the start instead of failing a moment
// after it. systemd passes the socket to tell in $NOTIFY_SOCKET: an AF_UNIX
// datagram socket, a path or, with a leading '@', an abstract name. Outside
// systemd the variable is unset and nothing is sent.
//
// Thread-safe (a datagram per call). libc only.
//
// Example:
//   NotifySystemd("READY=1\nSTATUS=chat-service ready grpc=...");
//   ...
//   NotifySystemd("STOPPING=1");
#ifndef CHATROOM_SERVICE_SD_NOTIFY_H_
#define CHATROOM_SERVICE_SD_NOTIFY_H_

#include <string_view>

namespace chat {

// NotifySystemd
//
// Sends `state` (newline-separated VAR=VALUE assignments, sd_notify(3)) to
// $NOTIFY_SOCKET. Returns true when sent; false when there is no socket to
// tell or it cannot be reached (the service goes on either way).
bool NotifySystemd(std::string_view state);

}  // namespace chat

#endif  // CHATROOM_SERVICE_SD_NOTIFY_H_
