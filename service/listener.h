// Listener: one transport's server (the gRPC service, the legacy TCP port,
// next a WebSocket), as chat-service's main starts and stops it.
//
// A transport is a folder with a Listener that joins members through the
// room core (service/room.h); main.cc keeps its listeners in a list, starts
// each, prints the ready line from their names and addresses, and on
// SIGTERM shuts the hub down (every member gets the notice) and then every
// listener, in parallel.
//
// Thread-safety: Start, then Shutdown, from one thread; address() from any.
#ifndef CHATROOM_SERVICE_LISTENER_H_
#define CHATROOM_SERVICE_LISTENER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

class Listener {
 public:
  virtual ~Listener() = default;

  // The transport's name on the ready line ("grpc" in "grpc=HOST:PORT").
  virtual absl::string_view name() const = 0;

  // Start
  //
  // Binds and starts serving. Errors say which address could not be used.
  virtual absl::Status Start() = 0;

  // The address bound, "HOST:PORT" (the port picked, for port 0), once
  // started.
  virtual std::string address() const = 0;

  // Shutdown
  //
  // Stops accepting, lets open connections flush what their members were
  // sent (call Hub::Shutdown first, so that they get its notice), and closes
  // whatever is still open after `grace`. Idempotent.
  virtual void Shutdown(absl::Duration grace) = 0;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_LISTENER_H_
