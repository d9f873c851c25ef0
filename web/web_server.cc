#include "web/web_server.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "metrics/metrics.h"
#include "net/wake_sink.h"
#include "service/chat_request.h"
#include "service/event.h"
#include "service/request_limits.h"
#include "web/assets.h"
#include "web/web_protocol.h"

namespace chat {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Stream = beast::basic_stream<tcp, Connection::Executor>;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

namespace {

// An HTTP request's header may take this many bytes (Beast's default).
constexpr uint32_t kMaxHeaderBytes = 8 * 1024;
// A WebSocket frame is read in pieces of at most this many bytes.
constexpr size_t kReadPieceBytes = 16 * 1024;

constexpr absl::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

// This transport's encoding of events (service/event.h): its frame's JSON.
const EncodingKey<std::string> kJsonEncoding = RegisterEncoding<std::string>();

std::string EventJson(const Event& event) {
  return ChatResponseJson(event.response());
}

// A page file with its entity tag: FNV-1a of its bytes, stable across runs.
struct PageFile {
  const Asset* asset;
  std::string etag;
};

const PageFile* FindPageFile(absl::string_view path) {
  static const auto* const files = [] {
    auto* files = new std::vector<PageFile>();
    for (const Asset& asset : PageAssets()) {
      uint64_t h = 14695981039346656037ull;
      for (char c : asset.body) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
      }
      files->push_back({&asset, absl::StrFormat("\"%016x\"", h)});
    }
    return files;
  }();
  if (path == "/") path = "/index.html";
  for (const PageFile& file : *files) {
    if (file.asset->path == path) return &file;
  }
  return nullptr;
}

// The request's path, without its query.
absl::string_view PathOf(const Request& request) {
  absl::string_view target(request.target().data(), request.target().size());
  return target.substr(0, target.find('?'));
}

}  // namespace

// ---------------------------------------------------------------- WsSession

// WsSession: one chat over a WebSocket. Lives on one io_context thread;
// everything below runs there, except the sink's Wake, which only posts.
//
// Input: one read in flight; each text frame is parsed and handed to the
// core. Output: one write in flight, one event per frame, from pending_
// (drained from the outbox; it keeps the events alive while written).
// Ending: the outbox closes (leave, too slow, shutdown, disconnect); the
// session sends what is left and a close frame saying why, and closes the
// socket when the client answers or close_grace passes.
class WsSession final : public Connection {
 public:
  WsSession(WebServer* server, Stream stream, const tcp::endpoint& peer)
      : Connection(&server->server_, stream.get_executor(), peer),
        server_(server),
        ws_(std::move(stream)) {}

  ~WsSession() override {
    if (member_ && !left_) member_->Disconnect("disconnected");
    ErrorCode ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  // Completes the handshake of `request` and starts reading.
  void Start(Request request);

  // Drains the outbox and writes, if no write is in flight.
  void StartWrite();

  // The core woke the session: write, or, when a write is stuck and the
  // member was removed, bound how long the session may wait for it.
  void OnWake() {
    if (writing_ && member_ && !member_->outbox().closed_status().ok()) {
      ArmCloseDeadline();
    }
    StartWrite();
  }

  void Stop() override {
    if (closed_) return;
    if (!member_) return CloseSocket();
    StartWrite();  // The hub closed the outbox: flush, then the close frame.
  }

  void CloseSocket() override;

 private:
  void OnAccept(const ErrorCode& error);
  void Read();
  void OnRead(const ErrorCode& error);
  // Acts on one request. Returns false when no more should be read.
  bool Handle(const v1::ChatRequest& request);
  bool Join(const v1::Join& join);
  void OnWrite(const ErrorCode& error);
  void OnOutboxClosed(const absl::Status& status);
  // Ends the chat with a close frame (and no member events after it).
  void SendClose(const CloseFrame& frame);
  void ArmCloseDeadline();
  // Closes the session unless it joins within join_timeout.
  void ArmJoinDeadline();

  WebServer* const server_;
  websocket::stream<Stream> ws_;
  Request request_;  // The handshake, alive until it is answered.
  beast::flat_buffer read_buffer_;
  std::shared_ptr<Member> member_;

  std::vector<EventPtr> pending_;  // Drained; pending_[next_] is next.
  size_t next_ = 0;
  bool writing_ = false;

  bool left_ = false;     // The member left or was removed.
  bool closing_ = false;  // A close frame is sent or being sent.
  bool closed_ = false;   // The socket is closed.
  std::optional<asio::steady_timer> close_deadline_;
  std::optional<asio::steady_timer> join_deadline_;
};

void WsSession::Start(Request request) {
  request_ = std::move(request);
  ws_.set_option(
      websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.set_option(
      websocket::stream_base::decorator([](websocket::response_type& response) {
        response.set(http::field::server, "chat-service");
      }));
  ws_.read_message_max(0);  // No limit of Beast's: OnRead keeps its own.
  ws_.auto_fragment(false);
  ws_.async_accept(request_,
                   [self = SharedAs<WsSession>()](const ErrorCode& error) {
                     self->OnAccept(error);
                   });
}

void WsSession::OnAccept(const ErrorCode& error) {
  request_ = {};
  if (error) return CloseSocket();
  ws_.text(true);
  ArmJoinDeadline();
  Read();
}

void WsSession::ArmJoinDeadline() {
  const absl::Duration timeout = server_->options_.join_timeout;
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    return;
  }
  join_deadline_.emplace(executor());
  join_deadline_->expires_after(absl::ToChronoNanoseconds(timeout));
  join_deadline_->async_wait(
      [self = SharedAs<WsSession>(), timeout](const ErrorCode& error) {
        if (error || self->member_ || self->closing_ || self->closed_) return;
        const std::string why =
            absl::StrCat("no join within ", absl::FormatDuration(timeout));
        self->LogClosure("join timeout", absl::StrCat("closing: ", why));
        self->SendClose(CloseFor(absl::DeadlineExceededError(absl::StrCat(
            why,
            ": the first request must be a join: {\"join\":{\"name\":...}}"))));
      });
}

void WsSession::Read() {
  // A frame is read a piece at a time, so that one over the limit is
  // refused with a close frame that says so, read and dropped by
  // async_close, instead of a reset connection that says nothing.
  ws_.async_read_some(
      read_buffer_, kReadPieceBytes,
      [self = SharedAs<WsSession>()](const ErrorCode& error, size_t) {
        self->OnRead(error);
      });
}

void WsSession::OnRead(const ErrorCode& error) {
  WakeBatch wakes;  // What this read posts wakes each thread once.
  if (error) {
    if (join_deadline_) join_deadline_->cancel();  // No more reads: no join.
    if (!member_ || left_) {
      if (error != websocket::error::closed) CloseSocket();
      return;
    }
    if (error == websocket::error::closed) {  // The client closed.
      const websocket::close_reason& why = ws_.reason();
      member_->Leave(
          why.code == websocket::close_code::normal
              ? absl::string_view(why.reason.data(), why.reason.size())
              : "disconnected");
      return;
    }
    if (error.category() == ErrorCode(websocket::error::closed).category()) {
      // The client broke the protocol (text that is not UTF-8, say): Beast
      // sent the close frame and closes the socket.
      closing_ = true;
      ArmCloseDeadline();
    }
    member_->Disconnect("disconnected");
    return;
  }
  if (!ws_.got_text()) {
    SendClose({1003,
               "binary frames are not accepted: send each ChatRequest as "
               "JSON text"});
    if (member_) member_->Disconnect("sent a binary frame");
    return;
  }
  if (read_buffer_.size() > server_->max_frame_bytes()) {
    SendClose({1009, absl::StrCat("a request may take at most ",
                                  server_->max_frame_bytes(), " bytes")});
    if (member_) {
      member_->Disconnect(absl::StrCat("sent a request over ",
                                       server_->max_frame_bytes(), " bytes"));
    }
    return;
  }
  if (!ws_.is_message_done()) return Read();
  const auto data = read_buffer_.cdata();
  const absl::string_view text(static_cast<const char*>(data.data()),
                               data.size());
  v1::ChatRequest request;
  absl::Status parsed = ParseChatRequestJson(text, &request);
  read_buffer_.clear();
  if (!parsed.ok()) {
    Metrics().Refused(RefusalCause::kBadInput);
    if (!member_) return SendClose(CloseFor(parsed));
    // One frame is one request: a bad one spoils nothing else.
    member_->Notify(absl::StrCat("request ignored: ", parsed.message()));
    return Read();
  }
  if (Handle(request)) Read();
}

bool WsSession::Handle(const v1::ChatRequest& request) {
  if (!member_) {
    if (!request.has_join()) {
      Metrics().Refused(RefusalCause::kBadInput);
      SendClose(CloseFor(absl::InvalidArgumentError(
          "the first request must be a join: {\"join\":{\"name\":...}}")));
      return false;
    }
    return Join(request.join());
  }
  // After a leave, read on: Beast answers the client's close frame in the
  // read.
  ApplyRequest(*member_, request);
  return true;
}

bool WsSession::Join(const v1::Join& j) {
  const JoinRequest join = JoinRequestFrom(j, v1::TRANSPORT_WEB, peer_ip());
  auto sink = std::make_shared<WakeSink<WsSession, &WsSession::OnWake>>(
      WeakAs<WsSession>());
  absl::StatusOr<std::shared_ptr<Member>> joined =
      server_->hub_->Join(join, std::move(sink));
  if (!joined.ok()) {
    SendClose(CloseFor(joined.status()));
    return false;
  }
  member_ = *std::move(joined);
  if (join_deadline_) join_deadline_->cancel();
  StartWrite();  // The welcome is queued; no wake comes for it.
  return true;
}

void WsSession::StartWrite() {
  if (writing_ || closing_ || closed_ || !member_) return;
  if (next_ == pending_.size()) {
    pending_.clear();
    next_ = 0;
    absl::Status status;
    switch (member_->outbox().Drain(&pending_, &status)) {
      case Outbox::DrainResult::kEvents:
        break;
      case Outbox::DrainResult::kEmpty:
        return;
      case Outbox::DrainResult::kClosed:
        return OnOutboxClosed(status);
    }
  }
  const std::string& json =
      pending_[next_++]->Encoded(kJsonEncoding, &EventJson);
  Metrics().Delivered(v1::TRANSPORT_WEB, 1, json.size());
  writing_ = true;
  ws_.async_write(asio::buffer(json), [self = SharedAs<WsSession>()](
                                          const ErrorCode& error, size_t) {
    self->OnWrite(error);
  });
}

void WsSession::OnWrite(const ErrorCode& error) {
  writing_ = false;
  if (error) {
    pending_.clear();
    next_ = 0;
    if (member_ && !left_) member_->Disconnect("disconnected");
    left_ = true;
    return CloseSocket();
  }
  StartWrite();
}

void WsSession::OnOutboxClosed(const absl::Status& status) {
  left_ = true;
  if (absl::IsCancelled(status)) return CloseSocket();  // Disconnected.
  SendClose(CloseFor(status));
}

void WsSession::SendClose(const CloseFrame& frame) {
  if (closing_ || closed_) return;
  closing_ = true;
  left_ = left_ || member_ == nullptr;
  ArmCloseDeadline();
  websocket::close_reason reason(frame.code);
  reason.reason = frame.reason;
  ws_.async_close(reason, [self = SharedAs<WsSession>()](const ErrorCode&) {
    // The client answered and Beast closed the socket, or the close
    // failed: either way the session is over; its deadline need not wait.
    self->CloseSocket();
  });
}

void WsSession::ArmCloseDeadline() {
  if (close_deadline_) return;
  close_deadline_.emplace(executor());
  close_deadline_->expires_after(
      absl::ToChronoNanoseconds(server_->options_.close_grace));
  close_deadline_->async_wait(
      [self = SharedAs<WsSession>()](const ErrorCode& error) {
        if (!error) self->CloseSocket();
      });
}

void WsSession::CloseSocket() {
  if (closed_) return;
  closed_ = true;
  if (member_ && !left_) member_->Disconnect("disconnected");
  left_ = true;
  ErrorCode ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
  if (close_deadline_) close_deadline_->cancel();
  if (join_deadline_) join_deadline_->cancel();
}

// ---------------------------------------------------------------- HttpSession

// HttpSession: a connection before (or instead of) a WebSocket: reads
// requests one at a time and answers each, keeping the connection open
// while the client asks to. A WebSocket handshake at /ws hands the stream
// to a new WsSession, and this session ends.
class HttpSession final : public Connection {
 public:
  HttpSession(WebServer* server, TcpServer::Socket socket,
              const tcp::endpoint& peer)
      : Connection(&server->server_, socket.get_executor(), peer),
        server_(server),
        stream_(std::move(socket)) {}

  ~HttpSession() override {
    ErrorCode ignored;
    stream_.socket().close(ignored);
  }

  void Start() { Read(); }
  // Requests are answered at once: nothing to finish.
  void Stop() override { CloseSocket(); }
  void CloseSocket() override {
    ErrorCode ignored;
    stream_.socket().close(ignored);
  }

 private:
  void Read();
  void OnRead(const ErrorCode& error);
  // The answer to a request that is not a WebSocket handshake.
  Response Answer(const Request& request);
  // A plain-text answer.
  Response Text(http::status status, absl::string_view text,
                const Request& request);
  void Write(Response response, bool close);
  // Bounds the next read or write by request_timeout.
  void SetDeadline();

  WebServer* const server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;  // Alive while written.
  int requests_ = 0;   // Requests read.
};

void HttpSession::SetDeadline() {
  const absl::Duration timeout = server_->options_.request_timeout;
  if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
    stream_.expires_never();
  } else {
    stream_.expires_after(absl::ToChronoNanoseconds(timeout));
  }
}

void HttpSession::Read() {
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->body_limit(server_->hub_->options().max_message_bytes);
  SetDeadline();
  http::async_read(
      stream_, buffer_, *parser_,
      [self = SharedAs<HttpSession>()](const ErrorCode& error, size_t) {
        self->OnRead(error);
      });
}

void HttpSession::OnRead(const ErrorCode& error) {
  if (error == http::error::body_limit) {
    return Write(
        Text(http::status::payload_too_large,
             absl::StrCat("request body over ",
                          server_->hub_->options().max_message_bytes, " bytes"),
             {}),
        true);
  }
  if (error == http::error::header_limit) {
    return Write(
        Text(http::status::request_header_fields_too_large,
             absl::StrCat("request header over ", kMaxHeaderBytes, " bytes"),
             {}),
        true);
  }
  if (error &&
      error.category() == ErrorCode(http::error::end_of_stream).category() &&
      error != http::error::end_of_stream &&
      error != http::error::partial_message) {
    return Write(Text(http::status::bad_request,
                      absl::StrCat("bad request: ", error.message()), {}),
                 true);
  }
  if (error == beast::error::timeout &&
      (requests_ == 0 || buffer_.size() > 0 || parser_->got_some())) {
    // A slowloris, or a connection that never asks: Beast closed the
    // socket. (A kept-alive connection with nothing more to ask is not.)
    LogClosure(
        "request timeout",
        absl::StrCat("closed: no whole request within ",
                     absl::FormatDuration(server_->options_.request_timeout)));
  }
  if (error) {
    // The client closed, went silent past request_timeout, or broke.
    ErrorCode ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return CloseSocket();
  }
  ++requests_;
  Request request = parser_->release();
  if (!websocket::is_upgrade(request)) {
    const bool close = !request.keep_alive();
    return Write(Answer(request), close);
  }
  if (PathOf(request) != "/ws") {
    return Write(
        Text(http::status::not_found, "no WebSocket here; use /ws", request),
        true);
  }
  const auto origin = request[http::field::origin];
  const auto host = request[http::field::host];
  if (!OriginAllowed(absl::string_view(origin.data(), origin.size()),
                     absl::string_view(host.data(), host.size()),
                     server_->options_.allowed_origins)) {
    return Write(
        Text(http::status::forbidden,
             absl::StrCat("origin ",
                          absl::string_view(origin.data(), origin.size()),
                          " may not open a chat here (see "
                          "chat-service --http_allowed_origins)"),
             request),
        true);
  }
  stream_.expires_never();  // The WebSocket keeps its own timeouts.
  auto ws = Connection::Make<WsSession>(server_, std::move(stream_), peer());
  ws->Start(std::move(request));
}

Response HttpSession::Text(http::status status, absl::string_view text,
                           const Request& request) {
  Response response(status, request.version() ? request.version() : 11);
  response.set(http::field::server, "chat-service");
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.set("X-Content-Type-Options", "nosniff");
  response.set(http::field::cache_control, "no-store");
  response.body() = absl::StrCat(text, "\n");
  if (request.method() == http::verb::head) {
    response.content_length(response.body().size());
    response.body().clear();
  } else {
    response.prepare_payload();
  }
  return response;
}

Response HttpSession::Answer(const Request& request) {
  const absl::string_view path = PathOf(request);
  if (request.method() != http::verb::get &&
      request.method() != http::verb::head) {
    Response response = Text(http::status::method_not_allowed,
                             "only GET and HEAD are served", request);
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  if (path == "/ws") {
    Response response =
        Text(http::status::upgrade_required,
             "this is chatroom's WebSocket: connect with a WebSocket client "
             "(the page at / does)",
             request);
    response.set(http::field::upgrade, "websocket");
    return response;
  }
  const PageFile* file = FindPageFile(path);
  if (file == nullptr) {
    return Text(http::status::not_found, "not found", request);
  }
  Response response(http::status::ok, request.version());
  response.set(http::field::server, "chat-service");
  response.set(http::field::content_type,
               std::string(file->asset->content_type));
  response.set("Content-Security-Policy", std::string(kContentSecurityPolicy));
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  response.set(http::field::x_frame_options, "DENY");
  // Always revalidated, cheaply: the page changes with the binary.
  response.set(http::field::cache_control, "no-cache");
  response.set(http::field::etag, file->etag);
  const auto match = request[http::field::if_none_match];
  if (absl::string_view(match.data(), match.size()) == file->etag) {
    response.result(http::status::not_modified);
    return response;
  }
  if (request.method() == http::verb::head) {
    response.content_length(file->asset->body.size());
  } else {
    response.body() = std::string(file->asset->body);
    response.prepare_payload();
  }
  return response;
}

void HttpSession::Write(Response response, bool close) {
  response_ = std::move(response);
  response_.keep_alive(!close);
  SetDeadline();
  http::async_write(
      stream_, response_,
      [self = SharedAs<HttpSession>(), close](const ErrorCode& error, size_t) {
        if (error || close) {
          ErrorCode ignored;
          self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
          return self->CloseSocket();
        }
        self->Read();
      });
}

// ---------------------------------------------------------------- WebServer

WebServer::WebServer(Hub* hub, WebServerOptions options)
    : hub_(hub),
      options_(std::move(options)),
      server_(
          TcpServerOptions{
              .name = "http",
              .address = options_.address,
              .max_connections = options_.max_connections,
              .max_connections_per_ip = options_.max_connections_per_ip,
              .threads = options_.threads},
          [this](TcpServer::Socket socket, const tcp::endpoint& peer) {
            auto session =
                Connection::Make<HttpSession>(this, std::move(socket), peer);
            asio::post(session->executor(), [session] { session->Start(); });
          },
          [this](TcpServer::Socket& socket, TcpServer::Refusal why) {
            Refuse(socket, why);
          }) {}

WebServer::~WebServer() { Shutdown(absl::ZeroDuration()); }

absl::Status WebServer::Start() { return server_.Start(); }

std::string WebServer::address() const { return server_.address(); }

int WebServer::port() const { return server_.port(); }

void WebServer::Shutdown(absl::Duration grace) { server_.Shutdown(grace); }

size_t WebServer::connection_count() const {
  return server_.connection_count();
}

bool WebServer::WaitForConnectionCount(size_t count,
                                       absl::Duration timeout) const {
  return server_.WaitForConnectionCount(count, timeout);
}

size_t WebServer::max_frame_bytes() const {
  return MaxRequestBytes(hub_->options().max_message_bytes);
}

void WebServer::Refuse(TcpServer::Socket& socket, TcpServer::Refusal why) {
  const std::string body = absl::StrCat(server_.RefusalText(why), "\n");
  const std::string response = absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; "
      "charset=utf-8\r\nContent-Length: ",
      body.size(), "\r\nConnection: close\r\n\r\n", body);
  ErrorCode ignored;
  socket.write_some(asio::buffer(response), ignored);  // Non-blocking.
}

}  // namespace chat
