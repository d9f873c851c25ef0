#include "legacy_tcp/legacy_server.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "legacy_tcp/line_decoder.h"
#include "metrics/metrics.h"
#include "net/wake_sink.h"
#include "service/auth.h"
#include "service/format.h"
#include "service/log.h"
#include "service/text.h"

namespace chat {
namespace {

using asio::ip::tcp;
using Socket = TcpServer::Socket;
using Clock = asio::steady_timer::clock_type;

// One read takes at most this much. The buffer is the thread's (ReadBuffer),
// not each session's: an idle session holds no input memory.
constexpr size_t kReadBufferBytes = 16 * 1024;
// A session stops reading input once it owes the client this many answers
// (command output, the core's notices about its own mistakes) that have not
// been written yet, or this many bytes of command output, and goes on once
// they are: a client that sends commands without reading answers cannot
// grow anything without bound.
constexpr int kMaxUnwrittenAnswers = 32;
constexpr size_t kMaxUnwrittenLocalBytes = 64 * 1024;
// Batches written back to back in one handler before yielding the thread.
constexpr int kMaxBatchesPerTurn = 16;
constexpr size_t kMaxWhoNames = 1000;
constexpr size_t kMaxIov = IOV_MAX;

constexpr absl::string_view kWelcome =
    "-- welcome to chatroom; type /help for the commands\r\n";
constexpr absl::string_view kHelp =
    "-- /nick NAME      change your name\r\n"
    "-- /who            who is in the room, and how they are connected\r\n"
    "-- /me ACTION      an action, shown as \"* you ACTION\"\r\n"
    "-- /join ROOM      move to another room\r\n"
    "-- /quit [REASON]  leave (/exit too)\r\n"
    "-- /help           this help\r\n"
    "-- any other line is said to the room; start it with // to say a line "
    "that starts with /";
// With tokens on (service/auth.h).
constexpr absl::string_view kAuthHelp =
    "-- /auth TOKEN     sign in: take the name your token owns\r\n";
constexpr absl::string_view kGuestWelcome =
    "-- you are a guest (~); sign in with /auth TOKEN to use a name you "
    "own\r\n";
constexpr absl::string_view kSignInFirst = "!! sign in first: /auth TOKEN";
constexpr absl::string_view kNoGuestsHelp =
    "-- this server admits no guests: /auth TOKEN signs you in\r\n"
    "-- /help           this help\r\n"
    "-- /quit           leave (/exit too)";

// The limits a member is held to, for /help: what a gRPC client reads in
// its welcome (Welcome.limits).
std::string LimitsLine(const HubOptions& o) {
  std::string line =
      absl::StrCat("-- limits: messages up to ", o.max_message_bytes, " bytes");
  if (o.flood_rate > 0) {
    absl::StrAppend(&line, "; at most ", o.flood_rate,
                    " a second after a burst of ", o.flood_burst,
                    " (messages, /nick and /join alike)");
  }
  return line;
}

// This transport's encoding of events (service/event.h): its line.
const EncodingKey<std::string> kLineEncoding = RegisterEncoding<std::string>();

// `start` + `d`, for a deadline; Clock::time_point::max() (none) when `d`
// is zero, negative or too long to matter (e.g. infinite).
Clock::time_point Deadline(Clock::time_point start, absl::Duration d) {
  if (d <= absl::ZeroDuration() || d >= absl::Hours(24 * 365 * 100)) {
    return Clock::time_point::max();
  }
  return start + std::chrono::duration_cast<Clock::duration>(
                     absl::ToChronoNanoseconds(d));
}

// The legacy rendering of an event, made once per event (Event::Encoded).
std::string RenderLine(const Event& event) {
  std::string line = FormatEventLine(event.response());
  line.append("\r\n");
  return line;
}

// The read buffer of this io thread. A read is decoded before its handler
// returns; what a session must keep of it (input left while it waits for its
// answers to be written) it copies (LegacySession::held_input_).
std::array<char, kReadBufferBytes>& ReadBuffer() {
  thread_local std::array<char, kReadBufferBytes> buffer;
  return buffer;
}

// The event lines of this io thread's batch, gathered back to back: one
// iovec for the kernel instead of one per line. A session whose write must
// wait keeps a copy of what is left (LegacySession::gathered_), so an idle
// session holds no output memory either.
std::string& GatherBuffer() {
  thread_local std::string buffer;
  return buffer;
}
// Above this, the thread's gather buffer is released after its batch.
constexpr size_t kMaxKeptGatherBytes = 256 * 1024;

}  // namespace

// LegacySession: one connection. Lives on one io_context thread; everything
// below runs there, except the sink's Wake, which only posts to it.
//
// Input: a read into the thread's buffer (ReadBuffer), or, when the socket
// holds nothing, one wait for readability in flight; the decoder turns what
// was read into lines; lines become core calls or local answers. Output: one
// batch in flight: what StartWrite drained from the outbox (pending_, which
// keeps the events alive) plus local answers (local_writing_), gathered into
// iov_ and written with sendmsg, waiting for writability when the socket is
// full. Event lines are gathered in the thread's buffer (GatherBuffer), and
// copied to the session only when the socket does not take them all at once.
//
// Input deadlines: idle_timeout runs from the last byte read, line_timeout
// from the start of a line still unfinished (LineDecoder::MidLine) while
// input is being read. One timer serves both: armed for the earlier, it
// looks again when it fires, so reads only note the time.
//
// Ending: the member leaves (quit, EOF, interrupt, flood, a deadline) or is
// removed by the core (too slow, shutdown); the outbox closes; the session
// writes what is left and a final "!!" line if there is one, shuts down its
// sending side, reads and discards until the client closes, and closes the
// socket. A deadline (close_grace) bounds all of that. A broken connection
// closes at once.
class LegacySession final : public Connection {
 public:
  LegacySession(LegacyServer* server, Socket socket, const tcp::endpoint& peer)
      : Connection(&server->server_, socket.get_executor(), peer),
        server_(server),
        socket_(std::move(socket)),
        decoder_(LineDecoder::Limits{
            .max_line_bytes = server->hub_->options().max_message_bytes,
            .max_unterminated_bytes =
                server->options_.max_unterminated_bytes}) {}

  ~LegacySession() {
    if (member_ && !left_) member_->Disconnect("disconnected");
    ErrorCode ignored;
    socket_.close(ignored);  // Before it counts as gone (~Connection).
  }

  LegacySession(const LegacySession&) = delete;
  LegacySession& operator=(const LegacySession&) = delete;

  // Joins the hub as a guest and starts reading and writing.
  void Start();

  // Drains the outbox and writes, if no write is in flight.
  void StartWrite();

  // For a server shutdown: leaves, flushes and closes.
  // No waiting for the client to close after the last line, then.
  void Stop() override {
    stopping_ = true;
    if (closed_) return;
    if (output_done_) return CloseSocket();
    if (!left_) Quit("the server is shutting down");
    StartWrite();
  }

  // Closes the socket now; pending operations end with errors.
  void CloseSocket() override;

 private:
  enum class WriteResult { kDone, kPending, kFailed };

  void StartRead();
  // Reads what the socket holds into the thread's buffer and hands it to
  // OnRead; when it holds nothing, waits until it is readable (`error`: the
  // wait failed).
  void OnReadable(const ErrorCode& error);
  void OnRead(const ErrorCode& error, absl::string_view bytes);
  // Decodes and acts on unread_ until it is used up, the session leaves, or
  // it owes the client too many answers.
  void ProcessInput();
  // Acts on one line read (ParseTypedLine's grammar, service/format.h).
  void HandleLine(absl::string_view line);
  // The same before the session has a member (tokens on, no guests): only
  // /auth, /help and /quit.
  void HandleLineSignedOut(const TypedLine& typed);
  // The member's name, or a stand-in before there is one, for logs.
  std::string LogName() const {
    return member_ ? member_->name() : std::string("a client not signed in");
  }
  std::shared_ptr<MemberSink> MakeSink() {
    return std::make_shared<
        WakeSink<LegacySession, &LegacySession::StartWrite>>(
        WeakAs<LegacySession>());
  }
  void Who();
  // Queues a local answer for the client, after what the outbox holds
  // ("\r\n" is added).
  void Reply(absl::string_view line);
  // Counts a core call that answered with a notice.
  void Answered(const absl::Status& status) {
    if (!status.ok()) ++unwritten_answers_;
  }
  bool OwesTooMuch() const {
    return unwritten_answers_ >= kMaxUnwrittenAnswers ||
           local_.size() >= kMaxUnwrittenLocalBytes;
  }
  // Leaves the room; what is queued is still written, then the socket closes.
  void Quit(absl::string_view reason);

  // After input was decoded: notes whether it stopped inside a line, and
  // since when (`ended_line`: a line ended in it, so a partial line after it
  // started now).
  void NoteLineState(bool ended_line);
  // Arms the input timer for the earlier deadline, unless it is armed for
  // one no later.
  void ArmInputDeadline();
  // The earlier of the input deadlines in force; Clock::time_point::max()
  // when none is.
  Clock::time_point InputDeadline() const;
  void OnInputDeadline(uint64_t generation);
  // Tells the client why in a "!!" line, logs it, and leaves with `why`.
  void CloseForInput(absl::string_view cause, absl::string_view why);

  // Fills iov_ with the next batch. Returns false when there is nothing to
  // write (and then handles an idle or finished outbox).
  bool PrepareBatch();
  void OnOutboxClosed(const absl::Status& status);
  // Writes as much of iov_ as the socket takes without blocking.
  WriteResult WriteSome();
  void OnWritable(const ErrorCode& error);
  // Acts on a write's result: the batch is done (released; returns true),
  // the socket is full (waits until it is writable), or the write failed
  // (closes).
  bool AfterWrite(WriteResult result);
  void ReleaseBatch();
  // Before a write waits: copies what is left of the thread's gathered lines
  // into gathered_, for the iovecs to point at.
  void KeepGathered();
  // Cuts a partly written iovec of gathered_ lines at the end of its line.
  void TrimGatheredToLine(iovec* partial);
  // Everything is written: shut down sending and wait for the client's close.
  void FinishOutput();
  void ArmCloseDeadline();

  LegacyServer* const server_;
  Socket socket_;
  LineDecoder decoder_;
  std::shared_ptr<Member> member_;
  uint64_t member_id_ = 0;

  // Input.
  // Input not yet decoded: in the thread's read buffer while a read is being
  // handled, else in held_input_.
  absl::string_view unread_;
  std::string held_input_;
  bool reading_ = false;     // A read (posted) or a wait is in flight.
  bool input_done_ = false;  // EOF or a read error: no more reads.
  int unwritten_answers_ = 0;

  // Input deadlines.
  Clock::time_point last_input_;  // The last read that got bytes.
  bool in_line_ = false;          // Input stopped inside a line,
  Clock::time_point line_start_;  // which started then.
  std::optional<asio::steady_timer> input_timer_;
  bool input_timer_armed_ = false;
  uint64_t input_timer_generation_ = 0;  // Tells a superseded wait.

  // Output.
  std::string local_;  // Local answers, for the next batch.
  bool writing_ = false;
  std::vector<EventPtr> pending_;  // Drained; kept alive for the batch.
  std::string local_writing_;      // Local answers in the batch.
  std::string final_line_;         // The last line, e.g. "!! too slow".
  // The batch's event lines still to write, when a write had to wait (they
  // are gathered in the thread's GatherBuffer until then).
  std::string gathered_;
  std::vector<iovec> iov_;  // The batch; iov_[write_index_] onward
  size_t write_index_ = 0;  // is still to be written.
  bool partial_ = false;    // iov_[write_index_] is partly written.

  // Ending.
  bool left_ = false;           // The member left or was removed.
  bool outbox_closed_ = false;  // The outbox is closed and fully drained.
  bool output_done_ = false;    // Sending side shut down.
  bool closed_ = false;         // Socket closed.
  bool stopping_ = false;       // The server is shutting down.
  std::optional<asio::steady_timer> close_deadline_;
};

void LegacySession::Start() {
  const std::shared_ptr<const Authenticator>& auth =
      server_->hub_->options().auth;
  if (auth != nullptr && !auth->guests()) {
    // No member until /auth.
    local_ = absl::StrCat(kWelcome, "-- this server admits no guests: ",
                          "sign in with /auth TOKEN\r\n");
    last_input_ = Clock::now();
    ArmInputDeadline();
    StartWrite();
    StartRead();
    return;
  }
  std::shared_ptr<MemberSink> sink = MakeSink();
  JoinRequest join;
  join.room = std::string(kDefaultRoom);
  join.transport = v1::TRANSPORT_TCP;
  join.peer_ip = peer_ip();
  absl::StatusOr<std::shared_ptr<Member>> joined =
      absl::ResourceExhaustedError("no free guest name; try again later");
  // Guest numbers come from one counter, so that two guests never share a
  // name, in any room (a guest may /join another room); a name taken by a
  // /nick is skipped.
  for (int attempt = 0; attempt < 32; ++attempt) {
    join.name = server_->NextGuestName();
    joined = server_->hub_->Join(join, sink);
    if (!absl::IsAlreadyExists(joined.status())) break;
  }
  if (!joined.ok()) {
    Reply(absl::StrCat("!! ", joined.status().message()));
    left_ = true;
    outbox_closed_ = true;
    ArmCloseDeadline();
    StartWrite();
    return;
  }
  member_ = *std::move(joined);
  member_id_ = member_->id();
  local_.assign(kWelcome.data(), kWelcome.size());
  if (auth != nullptr)
    local_.append(kGuestWelcome.data(), kGuestWelcome.size());
  last_input_ = Clock::now();
  ArmInputDeadline();
  StartWrite();  // The welcome is queued; no wake comes for it.
  StartRead();
}

// ---------------------------------------------------------------- Input

void LegacySession::StartRead() {
  if (reading_ || input_done_ || closed_) return;
  reading_ = true;
  // Read before waiting, as Asio's own reads do: the socket's readiness is
  // reported once per arrival (edge-triggered), and input that came while
  // no wait was in flight (before the first read, or while the session
  // waited for its answers to be written) would not be reported again.
  // Posted, not called: StartRead is called while input is handled.
  asio::post(executor(), [self = SharedAs<LegacySession>()] {
    self->OnReadable(ErrorCode());
  });
}

void LegacySession::OnReadable(const ErrorCode& error) {
  if (error || closed_) {
    OnRead(error, {});
    return;
  }
  std::array<char, kReadBufferBytes>& buffer = ReadBuffer();
  ssize_t got;
  do {
    got = ::read(socket_.native_handle(), buffer.data(), buffer.size());
  } while (got < 0 && errno == EINTR);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    // Nothing yet: wait for the next arrival.
    socket_.async_wait(
        tcp::socket::wait_read,
        [self = SharedAs<LegacySession>()](const ErrorCode& error) {
          self->OnReadable(error);
        });
    return;
  }
  if (got <= 0) {
    OnRead(got == 0 ? ErrorCode(asio::error::eof)
                    : ErrorCode(errno, asio::error::get_system_category()),
           {});
    return;
  }
  OnRead(ErrorCode(), absl::string_view(buffer.data(), got));
}

void LegacySession::OnRead(const ErrorCode& error, absl::string_view bytes) {
  WakeBatch wakes;  // The fan-out of the whole read wakes each thread once.
  reading_ = false;
  if (closed_) return;
  if (error) {
    input_done_ = true;
    if (error != asio::error::eof) {  // Reset, or worse: the client is gone.
      CloseSocket();
      return;
    }
    if (output_done_) {
      CloseSocket();
      return;
    }
    if (!left_) {
      // End of input, perhaps only a half-close: say the last unterminated
      // line, leave, and still write what is queued.
      absl::string_view line;
      if (decoder_.Finish(&line) == LineDecoder::Result::kLine) {
        HandleLine(line);
      }
      if (!left_) Quit("disconnected");
    }
    StartWrite();
    return;
  }
  if (left_) {  // Ending: input is read only to see the client close.
    StartRead();
    return;
  }
  last_input_ = Clock::now();
  unread_ = bytes;
  ProcessInput();
}

void LegacySession::ProcessInput() {
  WakeBatch wakes;
  absl::string_view line;
  bool ended_line = false;
  while (!left_ && !closed_ && !OwesTooMuch()) {
    const LineDecoder::Result result = decoder_.Next(&unread_, &line);
    if (result == LineDecoder::Result::kNeedMore) break;
    ended_line = ended_line || result == LineDecoder::Result::kLine;
    switch (result) {
      case LineDecoder::Result::kLine:
        HandleLine(line);
        break;
      case LineDecoder::Result::kLineTooLong:
        Reply(absl::StrCat("!! message not sent: the line is longer than ",
                           server_->hub_->options().max_message_bytes,
                           " bytes, the limit"));
        break;
      case LineDecoder::Result::kInterrupt:
        Quit("quit");
        break;
      case LineDecoder::Result::kOverflow:
        LogClosure("line too long",
                   absl::StrCat("closing ", LogName(), ": more than ",
                                server_->options_.max_unterminated_bytes,
                                " bytes without a line end"));
        Reply(absl::StrCat("!! more than ",
                           server_->options_.max_unterminated_bytes,
                           " bytes without a line end; disconnecting"));
        Quit("line too long");
        break;
      case LineDecoder::Result::kNeedMore:
        break;
    }
  }
  if (closed_) return;
  if (left_) unread_ = {};
  // With input left over, reading waits until the answers are written.
  if (unread_.empty()) {
    if (held_input_.capacity() > 0) std::string().swap(held_input_);
    NoteLineState(ended_line);
    StartRead();
  } else {
    in_line_ = false;  // Not reading: the line's clock waits.
    // The thread's read buffer is for the next read: keep the rest here.
    if (unread_.data() < held_input_.data() ||
        unread_.data() >= held_input_.data() + held_input_.size()) {
      held_input_.assign(unread_.data(), unread_.size());
      unread_ = held_input_;
    }
  }
  StartWrite();
}

// ---------------------------------------------------------------- Deadlines

void LegacySession::NoteLineState(bool ended_line) {
  if (left_ || !decoder_.MidLine()) {
    in_line_ = false;
    return;
  }
  if (in_line_ && !ended_line) return;  // The same line goes on.
  in_line_ = true;
  line_start_ = Clock::now();
  ArmInputDeadline();
}

Clock::time_point LegacySession::InputDeadline() const {
  const Clock::time_point idle =
      Deadline(last_input_, server_->options_.idle_timeout);
  return in_line_ ? std::min(idle, Deadline(line_start_,
                                            server_->options_.line_timeout))
                  : idle;
}

void LegacySession::ArmInputDeadline() {
  if (left_ || closed_) return;
  const Clock::time_point due = InputDeadline();
  if (due == Clock::time_point::max()) return;
  if (input_timer_armed_ && input_timer_->expiry() <= due) return;
  if (!input_timer_) input_timer_.emplace(executor());
  input_timer_->expires_at(due);  // Cancels a later wait, if any.
  input_timer_armed_ = true;
  input_timer_->async_wait(
      [self = SharedAs<LegacySession>(),
       generation = ++input_timer_generation_](const ErrorCode&) {
        self->OnInputDeadline(generation);
      });
}

void LegacySession::OnInputDeadline(uint64_t generation) {
  if (generation != input_timer_generation_) return;  // Superseded.
  input_timer_armed_ = false;
  if (left_ || closed_) return;
  const Clock::time_point now = Clock::now();
  const absl::Duration idle = server_->options_.idle_timeout;
  const absl::Duration line = server_->options_.line_timeout;
  if (in_line_ && now >= Deadline(line_start_, line)) {
    return CloseForInput(
        "line timeout",
        absl::StrCat("no line end within ", absl::FormatDuration(line)));
  }
  if (now >= Deadline(last_input_, idle)) {
    return CloseForInput("idle timeout",
                         absl::StrCat("idle for ", absl::FormatDuration(idle)));
  }
  ArmInputDeadline();  // Input moved the deadline: wait again.
}

void LegacySession::CloseForInput(absl::string_view cause,
                                  absl::string_view why) {
  LogClosure(cause, absl::StrCat("closing ", LogName(), ": ", why));
  Reply(absl::StrCat("!! closing: ", why));
  Quit(why);
  StartWrite();
}

void LegacySession::HandleLine(absl::string_view line) {
  const TypedLine typed = ParseTypedLine(line);
  if (member_ == nullptr) return HandleLineSignedOut(typed);
  switch (typed.kind) {
    case TypedLine::Kind::kEmpty:
      return;
    case TypedLine::Kind::kSay:
    case TypedLine::Kind::kAction:
      Answered(
          member_->Say(typed.argument, typed.kind == TypedLine::Kind::kAction));
      return;
    case TypedLine::Kind::kNick:
      Answered(member_->Rename(typed.argument));
      return;
    case TypedLine::Kind::kJoin:
      Answered(member_->Move(typed.argument, /*history=*/0));
      return;
    case TypedLine::Kind::kWho:
      Who();
      return;
    case TypedLine::Kind::kQuit:
      // The core sanitizes and shortens the reason.
      Quit(typed.argument.empty() ? "quit" : typed.argument);
      return;
    case TypedLine::Kind::kHelp:
      Reply(absl::StrCat(
          server_->hub_->options().auth != nullptr ? kAuthHelp : "", kHelp,
          "\r\n", LimitsLine(server_->hub_->options())));
      return;
    case TypedLine::Kind::kAuth:
      // The core answers with a notice either way.
      Answered(member_->Authenticate(typed.argument));
      return;
    case TypedLine::Kind::kBadUsage:
    case TypedLine::Kind::kUnknown:
      Reply(absl::StrCat("!! ", typed.error));
      return;
  }
}

void LegacySession::HandleLineSignedOut(const TypedLine& typed) {
  switch (typed.kind) {
    case TypedLine::Kind::kEmpty:
      return;
    case TypedLine::Kind::kHelp:
      return Reply(kNoGuestsHelp);
    case TypedLine::Kind::kQuit:
      Quit("quit");
      StartWrite();
      return;
    case TypedLine::Kind::kAuth: {
      JoinRequest join;
      join.room = std::string(kDefaultRoom);
      join.transport = v1::TRANSPORT_TCP;
      join.peer_ip = peer_ip();
      join.token = std::string(typed.argument);
      absl::StatusOr<std::shared_ptr<Member>> joined =
          server_->hub_->Join(join, MakeSink());
      if (!joined.ok()) {
        return Reply(
            absl::StrCat("!! token refused: ", joined.status().message()));
      }
      member_ = *std::move(joined);
      member_id_ = member_->id();
      // After the welcome and the join the outbox holds (no wake comes for
      // them).
      StartWrite();
      return Reply(absl::StrCat("!! signed in as ", member_->name()));
    }
    case TypedLine::Kind::kBadUsage:
      return Reply(absl::StrCat("!! ", typed.error));
    default:
      return Reply(kSignInFirst);
  }
}

void LegacySession::Who() {
  std::string room;
  absl::StatusOr<std::vector<v1::Member>> members = member_->RoomMembers(&room);
  if (!members.ok())
    return Reply(absl::StrCat("!! ", members.status().message()));
  std::string line = absl::StrCat("-- ", members->size(), " in ", room, ":");
  for (size_t i = 0; i < members->size(); ++i) {
    if (i == kMaxWhoNames) {
      absl::StrAppend(&line, " and ", members->size() - i, " more");
      break;
    }
    const v1::Member& m = (*members)[i];
    absl::StrAppend(&line, i == 0 ? " " : ", ", m.name(), " (",
                    TransportName(m.transport()), ")");
  }
  Reply(line);
}

void LegacySession::Reply(absl::string_view line) {
  // Events queued before the command go out before its answer (unless the
  // socket is full and a write is waiting).
  StartWrite();
  absl::StrAppend(&local_, line, "\r\n");
  ++unwritten_answers_;
}

void LegacySession::Quit(absl::string_view reason) {
  if (left_) return;
  left_ = true;
  if (input_timer_) input_timer_->cancel();  // Input no longer matters.
  if (member_) {
    member_->Leave(reason);
  } else {
    outbox_closed_ = true;  // Nothing to drain: flush the answers and close.
  }
  ArmCloseDeadline();
}

// ---------------------------------------------------------------- Output

void LegacySession::StartWrite() {
  if (closed_ || output_done_) return;
  if (writing_) {
    // A wake while a write waits for the client: if the core just removed
    // the member as too slow, drop the rest of the batch (the core dropped
    // the rest of the outbox), but finish the line being written, and end
    // with the line that says why. The deadline bounds the wait.
    if (!outbox_closed_ && member_ != nullptr) {
      absl::Status status = member_->outbox().closed_status();
      if (absl::IsResourceExhausted(status)) {
        iov_.resize(write_index_ + (partial_ ? 1 : 0));
        if (partial_) TrimGatheredToLine(&iov_[write_index_]);
        OnOutboxClosed(status);
      }
    }
    return;
  }
  for (int turn = 0; turn < kMaxBatchesPerTurn; ++turn) {
    if (!PrepareBatch() || !AfterWrite(WriteSome())) return;
    if (closed_ || output_done_) return;
  }
  // Still more: let the thread's other sessions have a turn first.
  asio::post(executor(),
             [self = SharedAs<LegacySession>()] { self->StartWrite(); });
}

bool LegacySession::PrepareBatch() {
  iov_.clear();
  write_index_ = 0;
  partial_ = false;
  std::string& gathered = GatherBuffer();
  gathered.clear();
  if (!local_.empty()) {
    local_writing_.swap(local_);
    local_.clear();
    iov_.push_back({local_writing_.data(), local_writing_.size()});
  }
  size_t lines = 0;  // Event lines gathered (deliveries, for /metrics).
  while (!outbox_closed_ && member_ != nullptr) {
    const size_t first = pending_.size();
    absl::Status status;
    const Outbox::DrainResult drained =
        member_->outbox().Drain(&pending_, &status);
    if (drained == Outbox::DrainResult::kEmpty) break;
    if (drained == Outbox::DrainResult::kClosed) {
      OnOutboxClosed(status);
      if (closed_) return false;
      break;
    }
    for (size_t i = first; i < pending_.size(); ++i) {
      const Event& event = *pending_[i];
      // Own messages are not echoed: the client shows what it typed.
      if (event.origin() == member_id_ && event.response().has_message()) {
        continue;
      }
      gathered.append(event.Encoded(kLineEncoding, &RenderLine));
      ++lines;
    }
    pending_.clear();  // The lines are copied: the events can go.
    if (!gathered.empty()) break;
  }
  if (!gathered.empty()) {
    iov_.push_back({gathered.data(), gathered.size()});
    Metrics().Delivered(v1::TRANSPORT_TCP, lines, gathered.size());
  }
  if (!iov_.empty()) return true;
  ReleaseBatch();
  if (outbox_closed_) {
    FinishOutput();
  } else if (unwritten_answers_ > 0) {
    // Every answer owed is written: take more input.
    unwritten_answers_ = 0;
    if (!unread_.empty()) {
      asio::post(executor(),
                 [self = SharedAs<LegacySession>()] { self->ProcessInput(); });
    }
  }
  return false;
}

void LegacySession::OnOutboxClosed(const absl::Status& status) {
  outbox_closed_ = true;
  left_ = true;
  if (input_timer_) input_timer_->cancel();
  if (absl::IsCancelled(status)) {  // Disconnected: nobody to write to.
    CloseSocket();
    return;
  }
  // A shutdown comes with its own notice; other errors (too slow) get a last
  // line here.
  if (!status.ok() && !absl::IsUnavailable(status)) {
    final_line_ = absl::StrCat("!! ", status.message(), "\r\n");
    iov_.push_back({final_line_.data(), final_line_.size()});
  }
  ArmCloseDeadline();
}

LegacySession::WriteResult LegacySession::WriteSome() {
  const int fd = socket_.native_handle();
  while (write_index_ < iov_.size()) {
    msghdr message{};
    message.msg_iov = &iov_[write_index_];
    message.msg_iovlen = std::min(iov_.size() - write_index_, kMaxIov);
    const ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return WriteResult::kPending;
      return WriteResult::kFailed;
    }
    size_t left = static_cast<size_t>(sent);
    while (write_index_ < iov_.size() && left >= iov_[write_index_].iov_len) {
      left -= iov_[write_index_].iov_len;
      ++write_index_;
    }
    partial_ = left > 0;
    if (partial_) {
      iovec& partial = iov_[write_index_];
      partial.iov_base = static_cast<char*>(partial.iov_base) + left;
      partial.iov_len -= left;
    }
  }
  return WriteResult::kDone;
}

void LegacySession::OnWritable(const ErrorCode& error) {
  writing_ = false;
  if (closed_) return;
  if (AfterWrite(error ? WriteResult::kFailed : WriteSome())) StartWrite();
}

bool LegacySession::AfterWrite(WriteResult result) {
  switch (result) {
    case WriteResult::kDone:
      ReleaseBatch();
      return true;
    case WriteResult::kPending:
      KeepGathered();
      writing_ = true;
      socket_.async_wait(
          tcp::socket::wait_write,
          [self = SharedAs<LegacySession>()](const ErrorCode& error) {
            self->OnWritable(error);
          });
      return false;
    case WriteResult::kFailed:
      CloseSocket();
      return false;
  }
  return false;
}

void LegacySession::KeepGathered() {
  const std::string& gathered = GatherBuffer();
  for (size_t i = write_index_; i < iov_.size(); ++i) {
    const char* base = static_cast<const char*>(iov_[i].iov_base);
    if (base >= gathered.data() && base < gathered.data() + gathered.size()) {
      gathered_.assign(base, iov_[i].iov_len);
      iov_[i].iov_base = gathered_.data();
    }
  }
}

void LegacySession::TrimGatheredToLine(iovec* partial) {
  const char* begin = static_cast<const char*>(partial->iov_base);
  if (begin < gathered_.data() ||
      begin >= gathered_.data() + gathered_.size()) {
    return;  // Local answers are kept whole, as before.
  }
  const void* newline = std::memchr(begin, '\n', partial->iov_len);
  if (newline != nullptr) {
    partial->iov_len = static_cast<const char*>(newline) - begin + 1;
  }
}

void LegacySession::ReleaseBatch() {
  iov_.clear();
  // An idle session keeps no batch memory (there may be thousands).
  if (gathered_.capacity() > 0) std::string().swap(gathered_);
  std::string& gathered = GatherBuffer();
  gathered.clear();
  if (gathered.capacity() > kMaxKeptGatherBytes) std::string().swap(gathered);
  write_index_ = 0;
  partial_ = false;
  pending_.clear();  // Drops this session's hold on the events.
  local_writing_.clear();
  if (local_writing_.capacity() > kMaxUnwrittenLocalBytes) {
    local_writing_.shrink_to_fit();
  }
}

void LegacySession::FinishOutput() {
  output_done_ = true;
  left_ = true;
  ErrorCode ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  if (input_done_ || stopping_) {
    CloseSocket();
    return;
  }
  // Closing with unread input would reset the connection and could destroy
  // the last lines before the client reads them: read until the client
  // closes (or the deadline).
  unread_ = {};
  ArmCloseDeadline();
  StartRead();
}

void LegacySession::ArmCloseDeadline() {
  if (close_deadline_ || closed_) return;
  close_deadline_.emplace(executor());
  close_deadline_->expires_after(
      absl::ToChronoNanoseconds(server_->options_.close_grace));
  close_deadline_->async_wait(
      [self = SharedAs<LegacySession>()](const ErrorCode& error) {
        if (!error) self->CloseSocket();
      });
}

void LegacySession::CloseSocket() {
  if (closed_) return;
  closed_ = true;
  if (member_ && !left_) member_->Disconnect("disconnected");
  left_ = true;
  ErrorCode ignored;
  socket_.close(ignored);
  if (close_deadline_) close_deadline_->cancel();
  if (input_timer_) input_timer_->cancel();
}

// ---------------------------------------------------------------- Server

LegacyServer::LegacyServer(Hub* hub, LegacyServerOptions options)
    : hub_(hub),
      options_(std::move(options)),
      next_guest_(absl::Uniform<uint32_t>(absl::InsecureBitGen(), 0, 90000)),
      bridges_(options_.tls ? std::make_unique<TlsBridgePool>(
                                  options_.name + "-tls", 2, TlsBridgeOptions{})
                            : nullptr),
      server_(
          TcpServerOptions{
              .name = options_.name,
              .address = options_.address,
              .max_connections = options_.max_connections,
              .max_connections_per_ip = options_.max_connections_per_ip,
              .threads = options_.threads},
          [this](Socket socket, const tcp::endpoint& peer) {
            if (bridges_) return AcceptTls(std::move(socket), peer);
            auto session =
                Connection::Make<LegacySession>(this, std::move(socket), peer);
            asio::post(session->executor(), [session] { session->Start(); });
          },
          [this](Socket& socket, TcpServer::Refusal why) {
            Refuse(socket, why);
          }) {}

LegacyServer::~LegacyServer() { Shutdown(absl::ZeroDuration()); }

absl::Status LegacyServer::Start() { return server_.Start(); }

std::string LegacyServer::address() const { return server_.address(); }

int LegacyServer::port() const { return server_.port(); }

void LegacyServer::Refuse(Socket& socket, TcpServer::Refusal why) {
  const std::string line =
      absl::StrCat("!! ", server_.RefusalText(why), "\r\n");
  ErrorCode ignored;
  socket.write_some(asio::buffer(line), ignored);  // Non-blocking.
}

std::string LegacyServer::NextGuestName() {
  constexpr uint32_t kFirst = 10000, kCount = 90000;  // Five digits.
  return absl::StrCat("guest-", kFirst + next_guest_++ % kCount);
}

size_t LegacyServer::connection_count() const {
  return server_.connection_count();
}

bool LegacyServer::WaitForConnectionCount(size_t count,
                                          absl::Duration timeout) const {
  return server_.WaitForConnectionCount(count, timeout);
}

void LegacyServer::Shutdown(absl::Duration grace) {
  server_.Shutdown(grace);
  if (bridges_) bridges_->Stop(absl::Milliseconds(500));
}

void LegacyServer::AcceptTls(Socket socket, const tcp::endpoint& peer) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                 pair) != 0) {
    return;  // The socket closes.
  }
  // The session counts against the caps from now on, with the client's
  // address; its socket is the bridge's plaintext end.
  Socket inner(socket.get_executor());
  ErrorCode error;
  inner.assign(peer.protocol(), pair[0], error);
  if (error) {
    close(pair[0]);
    close(pair[1]);
    return;
  }
  auto session = Connection::Make<LegacySession>(this, std::move(inner), peer);
  const int fd = socket.release(error);
  if (error) {
    close(pair[1]);
    return;
  }
  bridges_->Bridge(
      fd, pair[1], options_.tls->Current(),
      [session] {
        asio::post(session->executor(), [session] { session->Start(); });
      },
      [](int tcp_fd) {
        // The first byte was not TLS; a few bytes fit any socket buffer.
        const std::string line = absl::StrCat(
            "!! this port speaks TLS only: use openssl s_client -quiet "
            "-connect HOST:PORT\r\n");
        (void)!send(tcp_fd, line.data(), line.size(),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(tcp_fd, SHUT_WR);
        // What the client sent is read first: closing a socket with unread
        // input sends a reset, which can destroy the line before the
        // client reads it.
        char discard[4096];
        for (int i = 0; i < 16; ++i) {
          if (recv(tcp_fd, discard, sizeof(discard), MSG_DONTWAIT) <= 0) break;
        }
        close(tcp_fd);
      });
}

}  // namespace chat
