#include "service/std_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace chat {

void ReopenClosedStdFds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // open() takes the lowest free descriptor: `fd` itself, once every
    // lower one is open.
    const int null = open("/dev/null", O_RDWR);
    if (null < 0) continue;
    if (null != fd) {
      dup2(null, fd);
      close(null);
    }
  }
}

namespace {

// Shared libraries initialize before main, and before any static
// constructor of the program: libgrpc's opens an eventfd, which takes
// descriptor 0 when stdin is closed. A program's .preinit_array runs
// before them all, once libc is ready; this object is linked in whenever
// ReopenClosedStdFds is called.
void ReopenClosedStdFdsEarly() { ReopenClosedStdFds(); }

__attribute__((section(".preinit_array"),
               used)) void (*const kReopenClosedStdFdsEarly)() =
    &ReopenClosedStdFdsEarly;

}  // namespace
}  // namespace chat
