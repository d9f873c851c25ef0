#include "metrics/metrics_server.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "metrics/render.h"
#include "metrics/text_format.h"

namespace chat {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Stream = beast::basic_stream<tcp, Connection::Executor>;
using Request = http::request<http::empty_body>;
using Response = http::response<http::string_body>;

namespace {

// A request's header may take this many bytes; it may have no body.
constexpr uint32_t kMaxHeaderBytes = 8 * 1024;

// The request's path, without its query.
absl::string_view PathOf(const Request& request) {
  absl::string_view target(request.target().data(), request.target().size());
  return target.substr(0, target.find('?'));
}

}  // namespace

// MetricsSession: one connection: reads requests one at a time and answers
// each, keeping the connection open while the client asks to. Lives on the
// server's thread.
class MetricsSession final : public Connection {
 public:
  MetricsSession(MetricsServer* server, TcpServer::Socket socket,
                 const tcp::endpoint& peer)
      : Connection(&server->server_, socket.get_executor(), peer),
        server_(server),
        stream_(std::move(socket)) {}

  ~MetricsSession() override {
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
  Response Answer(const Request& request);
  Response Text(http::status status, absl::string_view text, unsigned version);
  void Write(Response response, bool close);
  void SetDeadline() {
    const absl::Duration timeout = server_->options_.request_timeout;
    if (timeout <= absl::ZeroDuration() ||
        timeout == absl::InfiniteDuration()) {
      stream_.expires_never();
    } else {
      stream_.expires_after(absl::ToChronoNanoseconds(timeout));
    }
  }

  MetricsServer* const server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  Response response_;  // Alive while written.
};

void MetricsSession::Read() {
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->body_limit(0);
  SetDeadline();
  http::async_read(
      stream_, buffer_, *parser_,
      [self = SharedAs<MetricsSession>()](const ErrorCode& error, size_t) {
        self->OnRead(error);
      });
}

void MetricsSession::OnRead(const ErrorCode& error) {
  if (error == http::error::header_limit || error == http::error::body_limit ||
      error == http::error::unexpected_body) {
    return Write(Text(http::status::bad_request,
                      "a request here is a GET of /metrics: a header of at "
                      "most 8 KiB and no body",
                      11),
                 true);
  }
  if (error) {
    // The client closed, went silent past request_timeout, or broke.
    ErrorCode ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return CloseSocket();
  }
  Request request = parser_->release();
  const bool close = !request.keep_alive();
  Write(Answer(request), close);
}

Response MetricsSession::Text(http::status status, absl::string_view text,
                              unsigned version) {
  Response response(status, version);
  response.set(http::field::server, "chat-service");
  response.set(http::field::content_type, "text/plain; charset=utf-8");
  response.set("X-Content-Type-Options", "nosniff");
  response.set(http::field::cache_control, "no-store");
  response.body() = absl::StrCat(text, "\n");
  response.prepare_payload();
  return response;
}

Response MetricsSession::Answer(const Request& request) {
  const unsigned version = request.version() ? request.version() : 11;
  const bool head = request.method() == http::verb::head;
  if (request.method() != http::verb::get && !head) {
    Response response = Text(http::status::method_not_allowed,
                             "only GET and HEAD are served", version);
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  if (PathOf(request) != "/metrics") {
    Response response = Text(http::status::not_found,
                             "not found: the metrics are at /metrics", version);
    if (head) response.body().clear();
    return response;
  }
  Response response(http::status::ok, version);
  response.set(http::field::server, "chat-service");
  response.set(http::field::content_type,
               std::string(kTextExpositionContentType));
  response.set("X-Content-Type-Options", "nosniff");
  response.set(http::field::cache_control, "no-store");
  response.body() = RenderMetrics(*server_->hub_);
  response.prepare_payload();
  if (head) response.body().clear();  // Content-Length stays the GET's.
  return response;
}

void MetricsSession::Write(Response response, bool close) {
  response_ = std::move(response);
  response_.keep_alive(!close);
  SetDeadline();
  http::async_write(stream_, response_,
                    [self = SharedAs<MetricsSession>(), close](
                        const ErrorCode& error, size_t) {
                      if (error || close) {
                        ErrorCode ignored;
                        self->stream_.socket().shutdown(
                            tcp::socket::shutdown_send, ignored);
                        return self->CloseSocket();
                      }
                      self->Read();
                    });
}

MetricsServer::MetricsServer(const Hub* hub, MetricsServerOptions options)
    : hub_(hub),
      options_(std::move(options)),
      server_(
          TcpServerOptions{.name = "metrics",
                           .address = options_.address,
                           .max_connections = options_.max_connections,
                           .max_connections_per_ip = 0,
                           .threads = 1},
          [this](TcpServer::Socket socket, const tcp::endpoint& peer) {
            auto session =
                Connection::Make<MetricsSession>(this, std::move(socket), peer);
            asio::post(session->executor(), [session] { session->Start(); });
          },
          [this](TcpServer::Socket& socket, TcpServer::Refusal why) {
            const std::string body =
                absl::StrCat(server_.RefusalText(why), "\n");
            const std::string response = absl::StrCat(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                "text/plain; charset=utf-8\r\nContent-Length: ",
                body.size(), "\r\nConnection: close\r\n\r\n", body);
            ErrorCode ignored;
            socket.write_some(asio::buffer(response), ignored);
          }) {}

MetricsServer::~MetricsServer() { Shutdown(absl::ZeroDuration()); }

absl::Status MetricsServer::Start() { return server_.Start(); }

std::string MetricsServer::address() const { return server_.address(); }

int MetricsServer::port() const { return server_.port(); }

void MetricsServer::Shutdown(absl::Duration grace) { server_.Shutdown(grace); }

}  // namespace chat
