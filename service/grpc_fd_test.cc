// chat-service at its file descriptor limit, end to end: the real binary,
// started with RLIMIT_NOFILE 256 (soft and hard, as `prlimit --nofile=256`
// does), gets 300 idle connections on its gRPC port. gRPC 1.51's own
// listener stopped accepting for good at the first EMFILE; chat-service's
// gRPC port must refuse what is over its cap with a sentence, and serve
// again once the connections are gone.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "chat/v1/chat.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace chat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// chat-service in a child process with a descriptor limit of `nofile`.
class LimitedServer {
 public:
  LimitedServer(rlim_t nofile, std::vector<std::string> flags) {
    char log_path[] = "/tmp/chat_grpc_fd_test.XXXXXX";
    const int log_fd = mkstemp(log_path);
    log_path_ = log_path;
    int out[2];
    if (log_fd < 0 || pipe2(out, O_CLOEXEC) != 0) return;
    // $CHAT_SERVICE_BIN runs another build (e.g. an older one) instead.
    const char* bin = getenv("CHAT_SERVICE_BIN");
    std::vector<std::string> args = {
        bin != nullptr && *bin != '\0' ? bin : CHAT_SERVICE_BIN,
        "--grpc_addr=127.0.0.1:0", "--legacy_addr=127.0.0.1:0",
        "--http_addr=127.0.0.1:0"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(log_fd, 2);
      const rlimit limit{nofile, nofile};
      if (setrlimit(RLIMIT_NOFILE, &limit) != 0) _exit(126);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    close(log_fd);
    // The ready line, within 20 s.
    std::string line;
    pollfd p{out[0], POLLIN, 0};
    char c;
    while (poll(&p, 1, 20000) == 1 && read(out[0], &c, 1) == 1 && c != '\n') {
      line.push_back(c);
    }
    ready_ = line;
    stdout_ = out[0];
    const size_t at = line.find("grpc=");
    if (at != std::string::npos) {
      const std::string rest = line.substr(at + 5);
      grpc_addr_ = rest.substr(0, rest.find(' '));
      absl::SimpleAtoi(grpc_addr_.substr(grpc_addr_.rfind(':') + 1),
                       &grpc_port_);
    }
  }

  ~LimitedServer() {
    if (pid_ > 0 && !stopped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) close(stdout_);
    if (!log_path_.empty()) unlink(log_path_.c_str());
  }

  // SIGTERM; returns the exit status (-1 unless it exited).
  int Stop() {
    stopped_ = true;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  const std::string& ready() const { return ready_; }
  const std::string& grpc_addr() const { return grpc_addr_; }
  int grpc_port() const { return grpc_port_; }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
  bool stopped_ = false;
  std::string log_path_;
  std::string ready_;
  std::string grpc_addr_;
  int grpc_port_ = 0;
};

// An idle TCP connection from 127.0.0.`from` to 127.0.0.1:port (that sends
// nothing), or -1.
int ConnectIdle(int from, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl((127u << 24) | static_cast<uint32_t>(from));
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    close(fd);
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// ListMembers on a fresh connection; waits for the server up to 20 s when
// `wait`, else fails at the first refusal.
grpc::Status Probe(const std::string& addr, bool wait) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  auto channel =
      grpc::CreateCustomChannel(addr, grpc::InsecureChannelCredentials(), args);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(20));
  context.set_wait_for_ready(wait);
  v1::ListMembersRequest request;
  v1::ListMembersResponse response;
  return v1::ChatRoom::NewStub(channel)->ListMembers(&context, request,
                                                     &response);
}

TEST(GrpcFdLimitTest, PortRefusesOverItsCapAndServesAgainAfterwards) {
  LimitedServer server(256, {});
  ASSERT_NE(server.grpc_port(), 0) << server.ready() << "\n" << server.Log();
  EXPECT_THAT(server.Log(),
              HasSubstr("connection caps scaled down to fit the file "
                        "descriptor limit 256"));

  // From ten addresses (127.0.0.2 to .11), 30 each: under the cap per
  // address (32), over the port's.
  std::vector<int> idle;
  for (int i = 0; i < 300; ++i) {
    const int fd = ConnectIdle(2 + i % 10, server.grpc_port());
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  // The port is full (the idle ones came first): a client is told so.
  grpc::Status full = Probe(server.grpc_addr(), /*wait=*/false);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(full.error_message(), HasSubstr("chat-service is full"))
      << server.Log();

  // Once gRPC has closed its side of them, the port serves again (until
  // then it is rightly full: retry as a client told so would).
  for (int fd : idle) close(fd);
  grpc::Status after;
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    after = Probe(server.grpc_addr(), /*wait=*/true);
  } while (after.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
           std::chrono::steady_clock::now() < give_up);
  EXPECT_TRUE(after.ok()) << after.error_message() << "\n" << server.Log();

  EXPECT_EQ(server.Stop(), 0);
  const std::string log = server.Log();
  EXPECT_THAT(log, Not(HasSubstr("Too many open files"))) << log;
  EXPECT_THAT(log, HasSubstr("refused: chat-service is full")) << log;
}

}  // namespace
}  // namespace chat
