// User: one simulated chat user, over gRPC (GrpcUser) or the legacy TCP port
// (TcpUser), and the record of everything it received.
//
// Every received thing becomes a Record with its arrival time: a gRPC event
// as its FormatEventLine text (with its seq), a TCP line without its "\r\n".
// The end of a connection (a gRPC status, a TCP close or reset) is kept
// apart from the records. Protocol rules that hold for every event (gRPC
// seq order) are checked as events arrive; a broken rule is kept as a
// violation, which fails the scenario at its next step.
//
// Threads: the transport's threads (gRPC reactions, the TCP reader thread)
// append records; the runner thread calls everything else. Waiting is
// event-driven: the runner waits on a condition variable that every new
// record, end or violation signals. Thread-safe.
#ifndef CHATROOM_INTEGRATION_TESTS_USER_H_
#define CHATROOM_INTEGRATION_TESTS_USER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace chat {

struct Record {
  absl::Time at;
  uint64_t seq = 0;   // gRPC room events; 0 for everything else.
  bool note = false;  // A note by the harness itself, never matched.
  std::string line;   // The event's text line (see above).
};

// A burst message as received: sent by burst step `burst` from user
// `sender` as its `index`-th message.
struct BurstMessage {
  int burst = 0;
  std::string sender;
  int index = 0;
  uint64_t seq = 0;  // gRPC only.
};

// How the connection ended. code is a gRPC status code name (gRPC) or
// "closed" / "reset" (TCP).
struct Ending {
  bool ended = false;
  absl::Time at;
  std::string code;
  std::string message;
};

class User {
 public:
  User(std::string alias, std::string transport, absl::Time epoch)
      : alias_(std::move(alias)),
        transport_(std::move(transport)),
        epoch_(epoch) {}
  virtual ~User() = default;

  User(const User&) = delete;
  User& operator=(const User&) = delete;

  // The transport operations, as the script names them. Each returns an
  // error only when the action itself could not be done (no connection);
  // what the server makes of it is for expectations to check.
  virtual absl::Status Say(const std::string& text) = 0;
  virtual absl::Status Me(const std::string& text) = 0;
  virtual absl::Status Nick(const std::string& name) = 0;
  virtual absl::Status Join(const std::string& room, uint32_t history) = 0;
  virtual absl::Status Leave(const std::string& reason) = 0;
  virtual absl::Status Kill() = 0;   // Abrupt: RST / cancel.
  virtual absl::Status Close() = 0;  // Orderly: FIN / half-close.
  virtual absl::Status SendRaw(const std::string& bytes) = 0;
  virtual void Pause() = 0;   // Stop reading.
  virtual void Resume() = 0;  // Read again.

  const std::string& alias() const { return alias_; }
  const std::string& transport() const { return transport_; }
  // The cluster node (chat-service process) the user is connected to, 1 to
  // N; 0 in a scenario with one server. Set before the transport starts,
  // constant after; Describe names it.
  int node() const { return node_; }
  void set_node(int node) { node_ = node; }
  absl::Time epoch() const { return epoch_; }

  // What a wait condition sees (under the user's lock).
  struct View {
    const std::vector<Record>& records;
    size_t cursor;
    const std::string& name;
    const Ending& ending;
    const std::map<int, size_t>& burst_counts;  // Burst id -> received.
  };

  // Waits until `done(view)` holds or `deadline` passes. Returns done's
  // last value; a violation ends the wait early (and returns false).
  bool WaitUntil(const std::function<bool(const View&)>& done,
                 absl::Time deadline);

  // Waits for the first record after the cursor whose line satisfies
  // `match` (with `next_only`: the first record after the cursor must) and,
  // with `consume`, moves the cursor past it. Returns its index, or -1 when
  // `deadline` passed, the next record did not match (`next_only`), the
  // connection ended with nothing more to match, or a violation came.
  // `from_start` looks from the first record instead of the cursor.
  int WaitForMatch(const std::function<bool(const std::string&)>& match,
                   bool next_only, bool consume, absl::Time deadline,
                   bool from_start = false);

  // Record `index` (as returned by WaitForMatch).
  Record RecordAt(int index);

  // The index of the first record that is not a note, lies in [from, to)
  // and whose line satisfies `match`; -1 when there is none. `to` is capped
  // at the number of records.
  int FindIn(size_t from, size_t to,
             const std::function<bool(const std::string&)>& match);

  // Where the cursor is: the index of the first record not yet matched.
  size_t cursor();

  // Moves the cursor past everything received so far.
  void ConsumeAll();

  // The records after the cursor that satisfy `match`.
  std::vector<Record> Unconsumed(
      const std::function<bool(const std::string&)>& match);

  Ending ending();
  std::vector<std::string> violations();
  // The user's name on the server now (guest name, renames followed).
  std::string name();
  std::string room();
  // The highest room seq received (gRPC), for resume=last.
  uint64_t last_seq();
  // The epoch named by the last welcome (gRPC; empty before one, and for
  // TCP), sent with resume=last.
  std::string room_epoch();
  size_t burst_count();
  std::vector<BurstMessage> bursts();

  // "alice (grpc, "alice" in lobby): 12 received; the last 8:" and the
  // records (the cursor marked >; after a broken rule, the records around
  // it first, the culprit marked !), and the ending; for failure messages.
  std::string Describe(int last_n);

 protected:
  // Appends a record and wakes waiters. Called by the transport.
  void AddRecord(uint64_t seq, std::string line);
  void AddNote(std::string line);
  void AddViolation(std::string what);
  void SetEnding(std::string code, std::string message);
  void SetRoomEpoch(std::string epoch);

  // What transports see of each line before it is recorded: names, rooms,
  // bursts. Called with mu_ held.
  void TrackLineLocked(const std::string& line, uint64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string alias_;
  const std::string transport_;
  const absl::Time epoch_;
  int node_ = 0;

  absl::Mutex mu_;
  std::vector<Record> records_ ABSL_GUARDED_BY(mu_);
  size_t cursor_ ABSL_GUARDED_BY(mu_) = 0;
  Ending ending_ ABSL_GUARDED_BY(mu_);
  struct Violation {
    std::string what;
    size_t index;  // Of the record that broke the rule.
  };
  std::vector<Violation> violations_ ABSL_GUARDED_BY(mu_);
  std::string name_ ABSL_GUARDED_BY(mu_);
  std::string room_ ABSL_GUARDED_BY(mu_);
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::string room_epoch_ ABSL_GUARDED_BY(mu_);
  std::vector<BurstMessage> bursts_ ABSL_GUARDED_BY(mu_);
  std::map<int, size_t> burst_counts_ ABSL_GUARDED_BY(mu_);
};

// FormatBurstText
//
// The text of burst message `index` of `sender` in burst `burst`, padded
// with dots to at least `size` bytes: "b1 u3 17 ....". ParseBurstLine
// reads it back from a received "<name> b1 u3 17 ...." line.
std::string FormatBurstText(int burst, const std::string& sender, int index,
                            size_t size);
bool ParseBurstLine(const std::string& line, BurstMessage* out);

}  // namespace chat

#endif  // CHATROOM_INTEGRATION_TESTS_USER_H_
