#include "service/sd_notify.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace chat {
namespace {

// A datagram socket standing in for systemd's, at `name` ("/path" or
// "@abstract"), and $NOTIFY_SOCKET naming it.
class FakeSystemd {
 public:
  explicit FakeSystemd(const std::string& name) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    if (name[0] == '@') address.sun_path[0] = '\0';
    bound_ = bind(fd_, reinterpret_cast<const sockaddr*>(&address),
                  static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) +
                                         name.size())) == 0;
    setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~FakeSystemd() {
    unsetenv("NOTIFY_SOCKET");
    close(fd_);
  }

  bool bound() const { return bound_; }

  // The next datagram (it is already there: sendto is synchronous).
  std::string Read() {
    char buffer[512];
    const ssize_t n = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
    return n < 0 ? "(nothing)" : std::string(buffer, static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

TEST(SdNotifyTest, SendsTheStateToAPathSocket) {
  char dir[] = "/tmp/sd_notify_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/notify";
  {
    FakeSystemd systemd(path);
    ASSERT_TRUE(systemd.bound());
    EXPECT_TRUE(NotifySystemd("READY=1\nSTATUS=chat-service ready"));
    EXPECT_EQ(systemd.Read(), "READY=1\nSTATUS=chat-service ready");
    EXPECT_TRUE(NotifySystemd("STOPPING=1"));
    EXPECT_EQ(systemd.Read(), "STOPPING=1");
  }
  unlink(path.c_str());
  rmdir(dir);
}

TEST(SdNotifyTest, SendsToAnAbstractSocket) {
  FakeSystemd systemd("@chat-sd-notify-test-" + std::to_string(getpid()));
  ASSERT_TRUE(systemd.bound());
  EXPECT_TRUE(NotifySystemd("READY=1"));
  EXPECT_EQ(systemd.Read(), "READY=1");
}

TEST(SdNotifyTest, WithoutSystemdNothingIsSent) {
  unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(NotifySystemd("READY=1"));
  setenv("NOTIFY_SOCKET", "relative/path", 1);
  EXPECT_FALSE(NotifySystemd("READY=1"));
  setenv("NOTIFY_SOCKET", "/nonexistent/notify", 1);
  EXPECT_FALSE(NotifySystemd("READY=1"));
  unsetenv("NOTIFY_SOCKET");
}

}  // namespace
}  // namespace chat
