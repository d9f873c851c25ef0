// GrpcListener: the gRPC transport as a Listener: the chat.v1.ChatRoom
// service (ChatRoomService), gRPC health checking and server reflection, on
// one address.
//
// Connections come in through a GrpcAcceptor (service/grpc_acceptor.h),
// which caps them in total and per client IP and keeps the port accepting
// at the descriptor limit; the grpc::Server listens on no port itself. Each
// connection carries at most max_streams_per_connection concurrent streams
// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; gRPC clients queue the rest);
// requests are read up to MaxRequestBytes(max_message_bytes)
// (service/request_limits.h), larger ones end their call with
// RESOURCE_EXHAUSTED; keepalive follows service/grpc_keepalive.h.
//
// Example:
//   GrpcListener grpc(&hub, {.address = "127.0.0.1:0"});
//   if (absl::Status s = grpc.Start(); !s.ok()) return s;
//   std::cout << grpc.address();  // "127.0.0.1:41234"
//   ...
//   hub.Shutdown("bye");
//   grpc.Shutdown(absl::Seconds(1));
#ifndef CHATROOM_SERVICE_GRPC_LISTENER_H_
#define CHATROOM_SERVICE_GRPC_LISTENER_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "service/grpc_acceptor.h"
#include "service/grpc_keepalive.h"
#include "service/grpc_service.h"
#include "service/listener.h"
#include "service/room.h"

namespace chat {

struct GrpcListenerOptions {
  // "HOST:PORT"; port 0 picks one.
  std::string address = "127.0.0.1:0";
  // Open connections at most, in total and per client IP (0: no limit).
  size_t max_connections = 10000;
  size_t max_connections_per_ip = 32;
  // Concurrent streams (calls) on one connection.
  uint32_t max_streams_per_connection = 100;
  // A Chat stream that sends no join within this long is ended.
  absl::Duration join_timeout = absl::Seconds(10);
  // Client pings closer together than this are strikes (two, and the
  // connection gets GOAWAY too_many_pings); zero allows any rate.
  absl::Duration min_client_ping_interval =
      absl::Milliseconds(kMinClientPingIntervalMs);
  // A connection is pinged after this long without traffic, and closed when
  // the answer takes longer than min(this, kServerKeepaliveTimeoutMs): how
  // soon a client that died (or was stopped) loses its names. At least 1 s.
  absl::Duration keepalive = absl::Milliseconds(kServerKeepaliveTimeMs);
  // Serve TLS only, with this context (null: plaintext; grpc_acceptor.h).
  std::shared_ptr<TlsContext> tls;
};

// GrpcServerArgs
//
// The channel arguments chat-service's gRPC server is built with, beside
// the receive limit: keepalive (ServerKeepaliveArgs, with
// options.keepalive and options.min_client_ping_interval) and
// GRPC_ARG_MAX_CONCURRENT_STREAMS.
IntChannelArgs GrpcServerArgs(const GrpcListenerOptions& options);

class GrpcListener final : public Listener {
 public:
  // `hub` must outlive this.
  GrpcListener(Hub* hub, GrpcListenerOptions options);
  // Shuts down at once if still serving.
  ~GrpcListener() override;

  GrpcListener(const GrpcListener&) = delete;
  GrpcListener& operator=(const GrpcListener&) = delete;

  absl::string_view name() const override { return "grpc"; }
  absl::Status Start() override;
  std::string address() const override { return bound_; }
  // Streams whose clients keep their side open are cancelled after `grace`.
  void Shutdown(absl::Duration grace) override;

  // Open connections (for tests and monitoring). Any thread.
  size_t connection_count() { return acceptor_.connection_count(); }
  size_t accept_failures() const { return acceptor_.accept_failures(); }
  const ChatRoomService& service() const { return service_; }

 private:
  Hub* const hub_;
  const GrpcListenerOptions options_;
  GrpcAcceptor acceptor_;
  ChatRoomService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string bound_;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_GRPC_LISTENER_H_
