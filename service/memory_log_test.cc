#include "service/memory_log.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "service/room_log_contract.h"

namespace chat {
namespace {

RoomLogFactory MemoryFactory() {
  RoomLogFactory f;
  f.name = "Memory";
  f.make = [](const RoomLogConfig& c) -> MakeResult {
    return std::unique_ptr<LogBackend>(
        std::make_unique<MemoryLogBackend>(c.history_events, 0));
  };
  f.persistent = false;
  return f;
}

INSTANTIATE_TEST_SUITE_P(Memory, RoomLogContract,
                         ::testing::Values(MemoryFactory()),
                         RoomLogFactoryName);

TEST(MemoryLogTest, HistoryMemoryEvictsTheLeastRecentlyActiveRoomFirst) {
  // Measure one event's cost with a throwaway log.
  MemoryLogBackend probe(1000, 0);
  auto probe_log = OpenLog(&probe, "x");
  const size_t cost =
      (*probe_log->Append(Message("0123456789"), 0, false))->cost();

  MemoryLogBackend backend(1000, 25 * cost);
  auto a = OpenLog(&backend, "a");
  auto b = OpenLog(&backend, "b");
  auto c = OpenLog(&backend, "c");
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(a->Append(Message("0123456789"), 0, false).ok());
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(b->Append(Message("0123456789"), 0, false).ok());
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(c->Append(Message("0123456789"), 0, false).ok());

  EXPECT_LE(backend.budget().used(), 25 * cost);
  EXPECT_GT(a->first_seq(), 1u) << "the least recently active room lost none";
  EXPECT_EQ(b->first_seq(), 1u);
  EXPECT_EQ(c->first_seq(), 1u);
  // Seqs go on regardless; only history was dropped.
  EXPECT_EQ(a->last_seq(), 10u);

  // Now a is the most recent: the next eviction takes b's oldest.
  for (int i = 0; i < 8; ++i)
    ASSERT_TRUE(a->Append(Message("0123456789"), 0, false).ok());
  EXPECT_LE(backend.budget().used(), 25 * cost);
  EXPECT_GT(b->first_seq(), 1u);
  EXPECT_EQ(c->first_seq(), 1u);
}

TEST(MemoryLogTest, EveryOpenIsANewEpoch) {
  MemoryLogBackend backend(1000, 0);
  std::string first;
  {
    auto log = OpenLog(&backend, "lobby");
    first = log->epoch();
    ASSERT_TRUE(log->Append(Message("hi"), 0, false).ok());
  }
  auto log = OpenLog(&backend, "lobby");
  EXPECT_NE(log->epoch(), first);
  EXPECT_EQ(log->last_seq(), 0u);
  EXPECT_FALSE(backend.Holds("lobby"));
}

}  // namespace
}  // namespace chat
