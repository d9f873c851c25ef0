#include "testing/metrics_scrape.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace chat {
namespace {

// A socket closed when it goes out of scope.
struct Fd {
  explicit Fd(int fd) : fd(fd) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  int fd;
};

// Waits until `fd` is ready for `events` or `deadline`; false on timeout.
bool WaitFor(int fd, short events, absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int n =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

}  // namespace

absl::StatusOr<HttpAnswer> HttpGet(const std::string& address,
                                   absl::string_view path,
                                   absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const size_t colon = address.rfind(':');
  int port = 0;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(), &to.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 HOST:PORT: \"", address, "\""));
  }
  to.sin_port = htons(static_cast<uint16_t>(port));
  Fd socket_fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (socket_fd.fd < 0) return absl::InternalError("socket() failed");
  const int fd = socket_fd.fd;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
    if (errno != EINPROGRESS || !WaitFor(fd, POLLOUT, deadline)) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", address));
    }
    int error = 0;
    socklen_t len = sizeof(error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", address, ": ", strerror(error)));
    }
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", address,
                   "\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n =
        send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!WaitFor(fd, POLLOUT, deadline)) {
        return absl::DeadlineExceededError("the request could not be sent");
      }
    } else {
      return absl::UnavailableError(
          absl::StrCat("sending to ", address, " failed"));
    }
  }
  std::string raw;
  char buffer[16384];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n > 0) {
      raw.append(buffer, static_cast<size_t>(n));
      if (raw.size() > (64u << 20)) {
        return absl::InternalError("an answer over 64 MiB");
      }
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!WaitFor(fd, POLLIN, deadline)) {
        return absl::DeadlineExceededError(
            absl::StrCat("no whole answer from ", address, " within ",
                         absl::FormatDuration(timeout)));
      }
    } else {
      break;  // A reset after the answer: what came counts.
    }
  }
  HttpAnswer answer;
  const size_t end = raw.find("\r\n\r\n");
  int status = 0;
  if (end == std::string::npos || !absl::StartsWith(raw, "HTTP/1.") ||
      raw.size() < 12 || !absl::SimpleAtoi(raw.substr(9, 3), &status)) {
    return absl::InternalError(
        absl::StrCat("not an HTTP answer: \"", raw.substr(0, 200), "\""));
  }
  answer.status = status;
  answer.head = raw.substr(0, end + 2);
  answer.body = raw.substr(end + 4);
  return answer;
}

absl::StatusOr<MetricSamples> ParseMetricSamples(absl::string_view text) {
  MetricSamples samples;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "#")) continue;
    // NAME[{labels}] VALUE; label values may hold spaces and '}' escaped
    // only as \", so the value is after the last space.
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos || space == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("not a sample line: \"", line, "\""));
    }
    const absl::string_view number = line.substr(space + 1);
    if (number == "+Inf") {
      value = std::numeric_limits<double>::infinity();
    } else if (number == "-Inf") {
      value = -std::numeric_limits<double>::infinity();
    } else if (number == "NaN") {
      value = std::numeric_limits<double>::quiet_NaN();
    } else if (!absl::SimpleAtod(number, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("not a sample value: \"", line, "\""));
    }
    samples[std::string(line.substr(0, space))] = value;
  }
  return samples;
}

absl::StatusOr<MetricSamples> ScrapeMetrics(const std::string& address,
                                            absl::Duration timeout) {
  absl::StatusOr<HttpAnswer> answer = HttpGet(address, "/metrics", timeout);
  if (!answer.ok()) return answer.status();
  if (answer->status != 200) {
    return absl::InternalError(absl::StrCat(
        "GET /metrics answered ", answer->status, ": ", answer->body));
  }
  return ParseMetricSamples(answer->body);
}

std::string SeriesFromShortForm(absl::string_view series) {
  const size_t open = series.find('{');
  if (open == absl::string_view::npos || !absl::EndsWith(series, "}") ||
      absl::StrContains(series, "\"")) {
    return std::string(series);
  }
  std::vector<std::string> labels;
  for (absl::string_view label :
       absl::StrSplit(series.substr(open + 1, series.size() - open - 2), ',',
                      absl::SkipEmpty())) {
    const size_t eq = label.find('=');
    if (eq == absl::string_view::npos) return std::string(series);
    labels.push_back(
        absl::StrCat(label.substr(0, eq), "=\"", label.substr(eq + 1), "\""));
  }
  return absl::StrCat(series.substr(0, open), "{", absl::StrJoin(labels, ","),
                      "}");
}

}  // namespace chat
