#include "cli/bench.h"

#include <cstdio>

namespace chat {

int RunBench(int, char**) {
  std::fprintf(stderr, "chatctl bench: not built yet\n");
  return 2;
}

}  // namespace chat
