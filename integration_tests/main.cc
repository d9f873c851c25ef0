// chat-scenario: runs scenario scripts against the real chat-service.
//
//   chat-scenario [--server=PATH] [--log_dir=DIR] [--quiet] FILE...
//   chat-scenario --check FILE...
//
// The server binary comes from --server, else $CHAT_SERVICE. Each scenario
// gets a fresh server; its stderr goes to DIR/NAME.server.log (DIR defaults
// to the current directory). --check only parses the files (no server).
// Exit status 0 when every scenario passed (or parsed).
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "integration_tests/runner.h"
#include "integration_tests/script.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: chat-scenario [--server=PATH] [--log_dir=DIR] "
               "[--quiet] FILE...\n"
               "       chat-scenario --check FILE...   (parse only)\n"
               "Runs chat scenario scripts (integration_tests/README.md) "
               "against chat-service\n(--server, or $CHAT_SERVICE).\n");
  return 2;
}

std::string BaseName(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);
  const size_t dot = base.rfind('.');
  return dot == std::string::npos ? base : base.substr(0, dot);
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil checks every mutex for deadlocks; gRPC's too.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  signal(SIGPIPE, SIG_IGN);

  std::string server;
  if (const char* env = std::getenv("CHAT_SERVICE")) server = env;
  std::string log_dir = ".";
  bool verbose = true;
  bool check_only = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (absl::StartsWith(arg, "--server=")) {
      server = arg.substr(9);
    } else if (absl::StartsWith(arg, "--log_dir=")) {
      log_dir = arg.substr(10);
    } else if (arg == "--quiet") {
      verbose = false;
    } else if (arg == "--check") {
      check_only = true;
    } else if (absl::StartsWith(arg, "-")) {
      return Usage();
    } else {
      files.push_back(arg);
    }
  }
  if (files.empty() || (server.empty() && !check_only)) return Usage();

  int failed = 0;
  for (const std::string& file : files) {
    const absl::Time start = absl::Now();
    std::ifstream in(file);
    if (!in) {
      std::printf("FAIL %s: cannot read the file\n", file.c_str());
      ++failed;
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<chat::Script> script = chat::ParseScript(file, text.str());
    if (!script.ok()) {
      std::printf("FAIL %s\n", std::string(script.status().message()).c_str());
      ++failed;
      continue;
    }
    if (check_only) {
      std::printf("OK %s (%zu steps)\n", file.c_str(), script->steps.size());
      continue;
    }
    chat::RunOptions options;
    options.server_binary = server;
    options.log_path =
        absl::StrCat(log_dir, "/", BaseName(file), ".server.log");
    options.verbose = verbose;
    std::ofstream(options.log_path, std::ios::trunc);  // A fresh log.
    absl::Status s;
    {
      chat::Runner runner(std::move(*script), options);
      s = runner.Run();
    }
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    if (s.ok()) {
      std::printf("PASS %s (%.2fs)\n", file.c_str(), seconds);
    } else {
      ++failed;
      std::printf("%s\nFAIL %s (%.2fs)\n", std::string(s.message()).c_str(),
                  file.c_str(), seconds);
    }
    std::fflush(stdout);
  }
  return failed == 0 ? 0 : 1;
}
