#include "service/std_fds.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace chat {
namespace {

// True when `fd` is open on /dev/null.
bool IsDevNull(int fd) {
  struct stat got, null;
  return fstat(fd, &got) == 0 && stat("/dev/null", &null) == 0 &&
         S_ISCHR(got.st_mode) && got.st_rdev == null.st_rdev;
}

// In a child (the test's own descriptors stay as they are): closes stdin and
// stderr, reopens them, and checks each step; the exit code says which
// failed.
int ChildCheck() {
  struct stat out_before;
  if (fstat(1, &out_before) != 0) return 10;
  close(0);
  close(2);
  ReopenClosedStdFds();
  if (!IsDevNull(0)) return 11;
  if (!IsDevNull(2)) return 12;
  if ((fcntl(0, F_GETFL) & O_ACCMODE) != O_RDWR) return 13;
  // stdout was open: left as it was.
  struct stat out_after;
  if (fstat(1, &out_after) != 0 || out_after.st_ino != out_before.st_ino ||
      out_after.st_dev != out_before.st_dev) {
    return 14;
  }
  // The next descriptor opened is not a standard one.
  const int next = open("/dev/null", O_RDONLY);
  if (next <= 2) return 15;
  close(next);
  // A second call changes nothing.
  ReopenClosedStdFds();
  if (!IsDevNull(0) || !IsDevNull(2)) return 16;
  return 0;
}

TEST(StdFdsTest, ClosedStandardDescriptorsGetDevNull) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(ChildCheck());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see ChildCheck for the step";
}

// This test again, in a child started without stdin and stderr: there the
// library's .preinit_array entry has put /dev/null on them before main, and
// before any shared library's initialization.
constexpr char kChildEnv[] = "STD_FDS_TEST_CHILD";

TEST(StdFdsTest, AProgramStartedWithoutThemHasThemBeforeMain) {
  if (getenv(kChildEnv) != nullptr) {
    EXPECT_TRUE(IsDevNull(0));
    EXPECT_TRUE(IsDevNull(2));
    return;
  }
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(0);
    close(2);
    // The child's report is its exit code; its output would only confuse.
    const int null = open("/dev/null", O_WRONLY);
    if (null < 0 || dup2(null, 1) < 0) _exit(126);
    close(null);
    setenv(kChildEnv, "1", 1);
    execl(
        "/proc/self/exe", "std_fds_test_child",
        "--gtest_filter=StdFdsTest.AProgramStartedWithoutThemHasThemBeforeMain",
        static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child's test failed (or exec did)";
}

TEST(StdFdsTest, OpenDescriptorsAreLeftAlone) {
  struct stat before[3], after[3];
  for (int fd = 0; fd <= 2; ++fd) {
    if (fstat(fd, &before[fd]) != 0) GTEST_SKIP() << "fd " << fd << " closed";
  }
  ReopenClosedStdFds();
  for (int fd = 0; fd <= 2; ++fd) {
    ASSERT_EQ(fstat(fd, &after[fd]), 0);
    EXPECT_EQ(after[fd].st_ino, before[fd].st_ino) << fd;
    EXPECT_EQ(after[fd].st_dev, before[fd].st_dev) << fd;
  }
}

}  // namespace
}  // namespace chat
