// RecentIds: the client ids (Say.client_id) of one room's recent messages,
// so that a Say repeated by a client that could not tell whether it was
// posted (a dropped connection) is answered with the seq it was posted under
// instead of being posted twice.
//
// An id is remembered under its key, the sender's NameKey and the id, with
// the seq and the time of the message it came with; it is forgotten once
// `window` has passed since that time, or earlier to stay within two
// bounds: `per_room` ids in this room, and `total` ids across every room of
// the hub (a counter the rooms share). The oldest go first. Memory is
// O(min(per_room, total)) per room and O(total) for the hub. Measured with
// 32-letter names: 153 bytes an id for 36-byte ids (a UUID), 203 for
// 64-byte ids, so at most 3.3 MB for a room's 16384 and 210 MB for a hub's
// 1 << 20.
//
// Expiry happens at Insert (ids older than a window before the new one's
// time go first) and at Expire; Find never returns an id older than the
// window, expired or not. Ids are expected in time order: Insert them as
// messages are posted, and a log's recent messages in seq order before any
// is posted (Room does both). An id inserted out of order is still found
// and still forgotten, only perhaps later than its window says.
//
// Not thread-safe: the room's lock guards it. The shared total is atomic.
//
// Example:
//   std::atomic<size_t> total{0};
//   RecentIds ids({.window = absl::Minutes(10), .per_room = 16384,
//                  .total = 1 << 20}, &total);
//   const std::string key = RecentIds::Key(NameKey("alice"), "c1");
//   if (std::optional<uint64_t> seq = ids.Find(key, absl::Now())) {
//     // A repeat of the message posted as *seq.
//   } else {
//     // Post it as seq S at time T, then: ids.Insert(key, S, T);
//   }
#ifndef CHATROOM_SERVICE_RECENT_IDS_H_
#define CHATROOM_SERVICE_RECENT_IDS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace chat {

class RecentIds {
 public:
  struct Limits {
    absl::Duration window = absl::Minutes(10);  // Zero: remember nothing.
    size_t per_room = 16384;
    size_t total = 1 << 20;  // Across every RecentIds sharing the counter.
  };

  // `total` counts the ids held by every RecentIds that shares it; it must
  // outlive this.
  RecentIds(const Limits& limits, std::atomic<size_t>* total);
  // Gives this room's ids back to the shared total.
  ~RecentIds();

  RecentIds(const RecentIds&) = delete;
  RecentIds& operator=(const RecentIds&) = delete;

  // Key
  //
  // The key of `client_id` sent by the member whose name has key `name_key`
  // (service/text.h NameKey: no ':' in it, so keys never collide).
  static std::string Key(absl::string_view name_key,
                         absl::string_view client_id);

  // Find
  //
  // The seq of the message posted under `key` less than a window before
  // `now`, or nullopt.
  std::optional<uint64_t> Find(const std::string& key, absl::Time now) const;

  // Insert
  //
  // Remembers that the message posted at `time` as `seq` had `key`. Ids
  // posted a window or more before `time` are forgotten first, then the
  // oldest while this room is at per_room. When every room together holds
  // `total`, this room's oldest makes way; a room that holds none then
  // remembers nothing and Insert returns false (Expire elsewhere makes
  // room). A key already held is moved to the newest place, with the new
  // seq and time.
  bool Insert(const std::string& key, uint64_t seq, absl::Time time);

  // Expire
  //
  // Forgets the ids posted a window or more before `now`.
  void Expire(absl::Time now);

  size_t size() const { return order_.size(); }
  const Limits& limits() const { return limits_; }

 private:
  struct Posted {
    uint64_t seq;
    absl::Time time;
  };
  using Map = absl::node_hash_map<std::string, Posted>;

  // Forgets the oldest id; `release` gives its place back to the total.
  void PopOldest(bool release);
  // Takes a place in the shared total, or false when it is full.
  bool Reserve();

  const Limits limits_;
  std::atomic<size_t>* const total_;
  Map posted_;
  // posted_'s entries, oldest first; node_hash_map keeps them in place.
  std::deque<Map::value_type*> order_;
};

}  // namespace chat

#endif  // CHATROOM_SERVICE_RECENT_IDS_H_
