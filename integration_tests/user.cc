#include "integration_tests/user.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "integration_tests/script.h"

namespace chat {

bool User::WaitUntil(const std::function<bool(const View&)>& done,
                     absl::Time deadline) {
  struct Waiter {
    User* user;
    const std::function<bool(const View&)>* done;
    bool Ready() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      User* u = user;
      return !u->violations_.empty() ||
             (*done)(View{u->records_, u->cursor_, u->name_, u->ending_,
                          u->burst_counts_});
    }
  } waiter{this, &done};
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithDeadline(absl::Condition(&waiter, &Waiter::Ready), deadline);
  return violations_.empty() && waiter.Ready();
}

int User::WaitForMatch(const std::function<bool(const std::string&)>& match,
                       bool next_only, bool consume, absl::Time deadline,
                       bool from_start) {
  // Scans each record once, however often the condition is evaluated.
  struct Waiter {
    User* user;
    const std::function<bool(const std::string&)>* match;
    bool next_only;
    size_t scanned;
    int found = -1;
    bool Ready() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      User* u = user;
      if (!u->violations_.empty()) return true;
      for (; scanned < u->records_.size(); ++scanned) {
        const Record& r = u->records_[scanned];
        if (r.note) continue;
        if ((*match)(r.line)) {
          found = static_cast<int>(scanned);
          return true;
        }
        if (next_only) return true;
      }
      return u->ending_.ended;  // Nothing more will come.
    }
  } waiter{this, &match, next_only, 0};
  absl::MutexLock lock(&mu_);
  waiter.scanned = from_start ? 0 : cursor_;
  mu_.AwaitWithDeadline(absl::Condition(&waiter, &Waiter::Ready), deadline);
  if (waiter.found >= 0 && consume) cursor_ = waiter.found + 1;
  return waiter.found;
}

Record User::RecordAt(int index) {
  absl::MutexLock lock(&mu_);
  return records_.at(static_cast<size_t>(index));
}

int User::FindIn(size_t from, size_t to,
                 const std::function<bool(const std::string&)>& match) {
  absl::MutexLock lock(&mu_);
  to = std::min(to, records_.size());
  for (size_t i = from; i < to; ++i) {
    if (!records_[i].note && match(records_[i].line)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

size_t User::cursor() {
  absl::MutexLock lock(&mu_);
  return cursor_;
}

void User::ConsumeAll() {
  absl::MutexLock lock(&mu_);
  cursor_ = records_.size();
}

std::vector<Record> User::Unconsumed(
    const std::function<bool(const std::string&)>& match) {
  absl::MutexLock lock(&mu_);
  std::vector<Record> out;
  for (size_t i = cursor_; i < records_.size(); ++i) {
    if (!records_[i].note && match(records_[i].line)) {
      out.push_back(records_[i]);
    }
  }
  return out;
}

Ending User::ending() {
  absl::MutexLock lock(&mu_);
  return ending_;
}

std::vector<std::string> User::violations() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const Violation& v : violations_) out.push_back(v.what);
  return out;
}

std::string User::name() {
  absl::MutexLock lock(&mu_);
  return name_;
}

std::string User::room() {
  absl::MutexLock lock(&mu_);
  return room_;
}

uint64_t User::last_seq() {
  absl::MutexLock lock(&mu_);
  return last_seq_;
}

std::string User::room_epoch() {
  absl::MutexLock lock(&mu_);
  return room_epoch_;
}

size_t User::burst_count() {
  absl::MutexLock lock(&mu_);
  return bursts_.size();
}

std::vector<BurstMessage> User::bursts() {
  absl::MutexLock lock(&mu_);
  return bursts_;
}

std::string User::Describe(int last_n) {
  absl::MutexLock lock(&mu_);
  std::string out =
      absl::StrCat("  ", alias_, " (", transport_,
                   node_ > 0 ? absl::StrCat(" on node ", node_) : std::string(),
                   ", name \"", name_, "\" in ", room_.empty() ? "?" : room_,
                   "): ", records_.size(), " received");
  const size_t n = records_.size();
  auto line = [&](size_t i) {
    const Record& r = records_[i];
    const std::string seq =
        r.seq ? absl::StrCat("seq=", r.seq) : std::string("     ");
    const char* mark = "    ";
    if (!violations_.empty() && i == violations_.front().index) {
      mark = "  ! ";
    } else if (i == cursor_) {
      mark = "  > ";
    }
    absl::StrAppend(
        &out, mark,
        absl::StrFormat("%8.3fs %-9s ", absl::ToDoubleSeconds(r.at - epoch_),
                        seq),
        r.note ? "[harness] " : "",
        EscapeForDisplay(r.line.size() > 120
                             ? absl::StrCat(r.line.substr(0, 120), "...(",
                                            r.line.size(), " bytes)")
                             : r.line),
        "\n");
  };
  size_t from = n > static_cast<size_t>(last_n) ? n - last_n : 0;
  if (!violations_.empty()) {
    // Around the first broken rule: the events before it say what was
    // expected there.
    const size_t at = violations_.front().index;
    const size_t start = at > 6 ? at - 6 : 0;
    const size_t end = std::min(n, at + 4);
    absl::StrAppend(&out, "; around the broken rule (marked !):\n");
    for (size_t i = start; i < end; ++i) line(i);
    if (end >= from) from = end;
    if (from < n) absl::StrAppend(&out, "  ... the last ", n - from, ":\n");
  } else if (n == 0) {
    absl::StrAppend(&out, "\n");
  } else {
    absl::StrAppend(
        &out, from > 0 ? absl::StrCat("; the last ", n - from) : std::string(),
        " (> marks the first not yet matched by an expect):\n");
  }
  for (size_t i = from; i < n; ++i) line(i);
  if (cursor_ == n && n > 0) absl::StrAppend(&out, "  > (nothing after)\n");
  if (ending_.ended) {
    absl::StrAppend(
        &out, absl::StrFormat(
                  "    %8.3fs connection ended: %s%s\n",
                  absl::ToDoubleSeconds(ending_.at - epoch_), ending_.code,
                  ending_.message.empty()
                      ? ""
                      : absl::StrCat(" \"", ending_.message, "\"")));
  } else {
    absl::StrAppend(&out, "    (connection still open)\n");
  }
  for (const Violation& v : violations_) {
    absl::StrAppend(&out, "    VIOLATION: ", v.what, "\n");
  }
  return out;
}

void User::AddRecord(uint64_t seq, std::string line) {
  absl::MutexLock lock(&mu_);
  TrackLineLocked(line, seq);
  records_.push_back(Record{absl::Now(), seq, false, std::move(line)});
}

void User::AddNote(std::string line) {
  absl::MutexLock lock(&mu_);
  records_.push_back(Record{absl::Now(), 0, true, std::move(line)});
}

void User::AddViolation(std::string what) {
  absl::MutexLock lock(&mu_);
  // The record that broke the rule is appended right after.
  violations_.push_back(Violation{std::move(what), records_.size()});
}

void User::SetEnding(std::string code, std::string message) {
  absl::MutexLock lock(&mu_);
  if (ending_.ended) return;
  ending_.ended = true;
  ending_.at = absl::Now();
  ending_.code = std::move(code);
  ending_.message = std::move(message);
}

void User::SetRoomEpoch(std::string epoch) {
  absl::MutexLock lock(&mu_);
  room_epoch_ = std::move(epoch);
}

void User::TrackLineLocked(const std::string& line, uint64_t seq) {
  if (seq > last_seq_) last_seq_ = seq;
  if (name_.empty() && transport_ == "tcp") {
    // The TCP welcome names the guest ("guest-39339") somewhere in a line.
    const size_t at = line.find("guest-");
    if (at != std::string::npos) {
      size_t end = at + 6;
      while (end < line.size() && (absl::ascii_isalnum(line[end]) ||
                                   line[end] == '_' || line[end] == '-')) {
        ++end;
      }
      if (end > at + 6) name_ = line.substr(at, end - at);
    }
  }
  absl::string_view rest = line;
  if (absl::ConsumePrefix(&rest, "<")) {
    BurstMessage b;
    if (ParseBurstLine(line, &b)) {
      b.seq = seq;
      ++burst_counts_[b.burst];
      bursts_.push_back(std::move(b));
    }
    return;
  }
  if (!absl::ConsumePrefix(&rest, "-- ")) return;
  // "-- you are NAME in room ROOM..." (the welcome).
  if (absl::ConsumePrefix(&rest, "you are ")) {
    std::vector<absl::string_view> words =
        absl::StrSplit(rest, absl::ByAnyChar(" ,"), absl::SkipEmpty());
    if (words.size() >= 4 && words[1] == "in" && words[2] == "room") {
      name_ = std::string(words[0]);
      room_ = std::string(words[3]);
    }
    return;
  }
  // "-- OLD is now known as NEW".
  const size_t known = rest.find(" is now known as ");
  if (known != absl::string_view::npos && !name_.empty() &&
      rest.substr(0, known) == name_) {
    name_ = std::string(rest.substr(known + 17));
  }
}

std::string FormatBurstText(int burst, const std::string& sender, int index,
                            size_t size) {
  std::string text = absl::StrCat("b", burst, " ", sender, " ", index, " ");
  if (text.size() < size) text.append(size - text.size(), '.');
  return text;
}

bool ParseBurstLine(const std::string& line, BurstMessage* out) {
  // "<name> b1 u3 17 ...."
  const size_t close = line.find("> b");
  if (line.empty() || line[0] != '<' || close == std::string::npos) {
    return false;
  }
  std::vector<absl::string_view> words = absl::StrSplit(
      absl::string_view(line).substr(close + 3), ' ', absl::SkipEmpty());
  if (words.size() < 3) return false;
  if (!absl::SimpleAtoi(words[0], &out->burst) ||
      !absl::SimpleAtoi(words[2], &out->index)) {
    return false;
  }
  out->sender = std::string(words[1]);
  return true;
}

}  // namespace chat
