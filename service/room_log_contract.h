// The room log contract: one GoogleTest suite that checks what room_log.h
// promises, for any LogBackend.
//
// A backend's test instantiates it with a factory that makes the backend:
//
//   RoomLogFactory MemoryFactory() {
//     RoomLogFactory f;
//     f.name = "Memory";
//     f.make = [](const RoomLogConfig& c) -> MakeResult {
//       return std::make_unique<MemoryLogBackend>(c.history_events, 0);
//     };
//     return f;
//   }
//   INSTANTIATE_TEST_SUITE_P(Memory, RoomLogContract,
//                            ::testing::Values(MemoryFactory()),
//                            RoomLogFactoryName);
//
// Each test gets a fresh temporary directory (RoomLogConfig::dir, removed
// afterwards) for backends that keep files; a backend in memory ignores it.
// Calling `make` again with the same config "reopens" the backend: a
// persistent one (RoomLogFactory::persistent) must then continue where it
// left off, one in memory starts afresh.
#ifndef CHATROOM_SERVICE_ROOM_LOG_CONTRACT_H_
#define CHATROOM_SERVICE_ROOM_LOG_CONTRACT_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "service/room_log.h"

namespace chat {

// What a factory is asked for.
struct RoomLogConfig {
  std::string dir;               // A fresh, empty directory for this test.
  size_t history_events = 1000;  // Per-room retention by count.
};

using MakeResult = absl::StatusOr<std::unique_ptr<LogBackend>>;

struct RoomLogFactory {
  std::string name;  // For test names: letters and digits only.
  std::function<MakeResult(const RoomLogConfig&)> make;
  // True when a backend made again with the same config keeps the rooms'
  // seqs, epochs and history.
  bool persistent = false;
};

inline std::ostream& operator<<(std::ostream& os, const RoomLogFactory& f) {
  return os << f.name;
}

// For INSTANTIATE_TEST_SUITE_P's name generator.
std::string RoomLogFactoryName(
    const ::testing::TestParamInfo<RoomLogFactory>& info);

// Helpers for backend tests, here and beside the backends.

// A message from "alice" with `text`, as a room appends it.
v1::ChatResponse Message(const std::string& text);

// backend->Open(room, listener), failing the test (and returning null) on
// error.
std::unique_ptr<RoomLog> OpenLog(
    LogBackend* backend, const std::string& room,
    std::shared_ptr<CommitListener> listener = nullptr);

// The fixture: a fresh directory per test, and helpers.
class RoomLogContract : public ::testing::TestWithParam<RoomLogFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Makes (or remakes) the backend with `history_events`; fails the test on
  // error.
  std::unique_ptr<LogBackend> Make(size_t history_events = 1000);

  RoomLogConfig config_;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_ROOM_LOG_CONTRACT_H_
