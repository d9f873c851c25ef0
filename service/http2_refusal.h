// Http2Refusal: the server's side of an HTTP/2 connection that is refused,
// spoken just far enough for a gRPC client to report why. gRPC clients take
// a connection that closes at once for a network failure ("Socket closed"),
// and one that sends GOAWAY right after SETTINGS for a server to try again
// until their deadline; neither shows a reason. So the refusing side sends
// its SETTINGS, acknowledges the client's, answers the client's first call
// with a trailers-only response (grpc-status and grpc-message: the call
// fails with that code and sentence), sends GOAWAY and is done.
//
// Pure: it turns the client's bytes into the bytes to send back; the caller
// does the I/O (GrpcAcceptor, service/grpc_acceptor.h) and closes the
// connection once done() or after a short wait. Not thread-safe.
//
// Example:
//   Http2Refusal refusal(grpc::StatusCode::RESOURCE_EXHAUSTED, "full");
//   Send(Http2Refusal::ServerPreface());
//   while (!refusal.done() && Read(&bytes)) Send(refusal.Feed(bytes));
#ifndef CHATROOM_SERVICE_HTTP2_REFUSAL_H_
#define CHATROOM_SERVICE_HTTP2_REFUSAL_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace chat {

class Http2Refusal {
 public:
  // `grpc_status`: the gRPC status code the client's call ends with;
  // `message`: its sentence (ASCII; other bytes are percent-encoded).
  Http2Refusal(int grpc_status, std::string message);

  // ServerPreface
  //
  // What the server sends first: an empty SETTINGS frame.
  static std::string ServerPreface();

  // Feed
  //
  // Takes bytes the client sent; returns what to send back (maybe
  // nothing). After the answer to the first call, or on input that is not
  // HTTP/2 from a client, done() is true and later input is ignored.
  std::string Feed(absl::string_view bytes);

  bool done() const { return done_; }

  // The most input held while waiting for a whole frame.
  static constexpr size_t kMaxBuffered = 32 * 1024;

 private:
  // Appends the answer to a call on `stream`: trailers-only HEADERS, then
  // GOAWAY.
  void Answer(uint32_t stream, std::string* out);

  const int grpc_status_;
  const std::string message_;
  std::string buffered_;
  bool preface_seen_ = false;
  bool done_ = false;
};

// AppendHpackLiteral
//
// Appends a header field as an HPACK literal without indexing, with a
// literal name and no Huffman coding (RFC 7541, 6.2.2).
void AppendHpackLiteral(std::string* out, absl::string_view name,
                        absl::string_view value);

}  // namespace chat

#endif  // CHATROOM_SERVICE_HTTP2_REFUSAL_H_
