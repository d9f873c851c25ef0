#include "cli/commands.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/bench.h"
#include "cli/client.h"
#include "cli/event_queue.h"
#include "cli/input.h"
#include "cli/line_editor.h"
#include "cli/pipe_report.h"
#include "cli/render.h"
#include "cli/session.h"
#include "cli/stats.h"
#include "cli/tls_flags.h"
#include "google/protobuf/util/json_util.h"
#include "service/auth_token.h"
#include "service/format.h"
#include "service/text.h"

// chatctl's flags. Each command accepts only its own (see Commands()); they
// are parsed by ParseArgs (cli/args.h), which also defines the ones several
// commands share: --server, --room and --json.
ABSL_FLAG(std::string, name, "", "your name: 1-32 letters, digits, _ or -");
ABSL_FLAG(std::string, token, "",
          "a token for a name you own (chatctl token; default: "
          "$CHATCTL_TOKEN)");
ABSL_FLAG(std::string, secret_file, "",
          "the file with the secret chat-service's --auth_secret_file names");
ABSL_FLAG(absl::Duration, ttl, absl::Hours(24), "how long the token works");
ABSL_FLAG(uint32_t, history, 0, "show the last N messages of the room first");
ABSL_FLAG(std::string, color, "auto",
          "color names: auto (on a terminal), always or never");
ABSL_FLAG(bool, timestamps, false, "show each event's time");
ABSL_FLAG(uint32_t, last, 20,
          "how many messages: the most recent, or with --after the oldest "
          "(0: all held, up to the server's page of 1000)");
ABSL_FLAG(std::optional<uint64_t>, before, std::nullopt,
          "only messages with a seq below SEQ: an older page");
ABSL_FLAG(std::optional<uint64_t>, after, std::nullopt,
          "only messages with a seq above SEQ: a newer page");
ABSL_FLAG(absl::Duration, give_up_after, absl::Minutes(5),
          "when the connection is lost, stop trying to reconnect after this "
          "long without input (each line typed or read starts it again)");
ABSL_FLAG(absl::Duration, keepalive, absl::Seconds(60),
          "ping the server after this long without traffic, to notice a dead "
          "connection (chat-service accepts pings 30s apart unless its "
          "--grpc_min_ping_interval says otherwise)");

namespace chat {
namespace {

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"join",
       "chatctl join --name NAME [--server HOST:PORT[,...]] [--room ROOM] "
       "[--history N] [--color=auto|always|never] [--timestamps] [--json]",
       "chat in a room",
       "On a terminal: a chat with a line editor. Incoming events print above\n"
       "the line you are typing, which stays intact; up arrow recalls earlier\n"
       "lines; /help lists the commands (/me, /nick, /who, /join, /quit).\n"
       "Ctrl-D, Ctrl-C and /quit leave the room cleanly.\n"
       "\n"
       "When stdin or stdout is not a terminal: each input line is posted "
       "(the\n"
       "commands work too), each event is printed as one line in the legacy\n"
       "TCP port's format (--json: one JSON object per line). At end of input\n"
       "chatctl leaves once the server has sequenced everything sent. It\n"
       "exits 0 if every line was posted; else 1, with one line on stderr\n"
       "saying which lines were not and why (\"3 of 2000 lines were not\n"
       "sent: ...\"). Lines longer than the server's limit are not sent.\n"
       "\n"
       "If the connection drops, chatctl says so, reconnects with backoff,\n"
       "resumes after the last event it saw, so nothing is missed, and sends\n"
       "again what the server had not confirmed: each line is posted once\n"
       "(if the server restarted without its history, chatctl cannot tell\n"
       "and says so). Lines typed meanwhile are sent once reconnected.\n"
       "Its name is its own again at once, even if the server has not yet\n"
       "noticed the old connection is dead.\n"
       "\n"
       "--server may list several servers, HOST:PORT,HOST:PORT,... (nodes\n"
       "of one deployment that share rooms): chatctl joins at the first that\n"
       "can be reached and says on stderr which one; when the connection\n"
       "drops, it reconnects to the next in the list (round-robin), resuming\n"
       "as above, and \"reconnected to chat-service at HOST:PORT\" names it.",
       {"server", "tls", "tls_ca", "name", "token", "room", "history", "color",
        "timestamps", "json", "give_up_after", "keepalive"}},
      {"send",
       "chatctl send --name NAME [--server HOST:PORT[,...]] [--room ROOM] "
       "TEXT...",
       "post one message",
       "Joins, posts TEXT (the arguments joined by spaces), waits until the\n"
       "server has sequenced it, leaves and exits 0. With several servers\n"
       "(--server HOST:PORT,HOST:PORT,...) it joins at the first that can be\n"
       "reached; a server that answers with an error is not skipped.",
       {"server", "tls", "tls_ca", "name", "token", "room"}},
      {"who",
       "chatctl who [--server HOST:PORT[,...]] [--room ROOM] [--json]",
       "list who is in a room",
       "Prints one member per line: NAME TRANSPORT (grpc, tcp or web).\n"
       "With several servers (--server HOST:PORT,HOST:PORT,...), the first\n"
       "that can be reached answers.",
       {"server", "tls", "tls_ca", "token", "room", "json"}},
      {"history",
       "chatctl history [--server HOST:PORT[,...]] [--room ROOM] [--last N] "
       "[--before SEQ | --after SEQ] [--color=auto|always|never] "
       "[--timestamps] [--json]",
       "print a room's messages",
       "Prints messages the server holds, oldest first, in the same formats\n"
       "as join: the last N; with --before SEQ the last N below that seq (an\n"
       "older page); with --after SEQ the first N above it (a newer page).\n"
       "--json shows each message's seq.\n"
       "\n"
       "When the server holds older messages than the page (with --after:\n"
       "newer ones), a hint on stderr gives the command for the next page,\n"
       "e.g. \"(older messages: chatctl history --before 123)\". stdout has\n"
       "the messages only.\n"
       "\n"
       "With several servers (--server HOST:PORT,HOST:PORT,...), the first\n"
       "that can be reached answers.",
       {"server", "tls", "tls_ca", "token", "room", "last", "before", "after",
        "color", "timestamps", "json"}},
      {"stats",
       kStatsUsage,
       kStatsSummary,
       kStatsDetails,
       {"server", "tls", "tls_ca", "token", "json"}},
      {"token",
       "chatctl token --name NAME --secret_file FILE [--ttl 24h] "
       "[--room ROOM]...",
       "make a token for an owned name",
       "Prints a token (an HS256 JWT) that makes NAME its owner's on a\n"
       "chat-service started with --auth_secret_file FILE, for --ttl. With\n"
       "--room (repeated, or ROOM,ROOM), only in those rooms. Use it with\n"
       "chatctl join/send/who/history --token TOKEN, or $CHATCTL_TOKEN, or\n"
       "/auth TOKEN on the line port. Anyone holding it is NAME until it\n"
       "expires: keep it like a password.",
       {"name", "secret_file", "ttl", "room"}},
      {"bench",
       "chatctl bench [flags]",
       "load-test a chat-service",
       "See chatctl bench --help.",
       {}},
  };
  return *commands;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& c : Commands()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

void PrintTopHelp(FILE* out) {
  std::fprintf(out,
               "chatctl: the chatroom client.\n\n"
               "usage: chatctl COMMAND [flags] [args]\n\ncommands:\n");
  for (const Command& c : Commands()) {
    std::fprintf(out, "  %-8s %s\n", c.name, c.summary);
  }
  std::fprintf(out,
               "\n'chatctl help COMMAND' explains one. The server is "
               "--server, else $CHATCTL_SERVER,\nelse %s; either may list "
               "several, HOST:PORT,HOST:PORT,..., tried in order.\n"
               "Exit codes: 0 done, 1 server or connection error, 2 bad "
               "usage.\n",
               std::string(kDefaultServer).c_str());
}

// Every --room given, in order (chatctl token takes several).
std::vector<std::string>& RoomsGiven() {
  static auto* rooms = new std::vector<std::string>();
  return *rooms;
}

// The token for an owned name: --token, else $CHATCTL_TOKEN, else "".
std::string Token() {
  std::string token = absl::GetFlag(FLAGS_token);
  if (token.empty()) {
    if (const char* env = std::getenv("CHATCTL_TOKEN")) token = env;
  }
  return std::string(absl::StripAsciiWhitespace(token));
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "chatctl: %s\n", std::string(status.message()).c_str());
  return kExitError;
}

// The servers to try, in order: --server, else $CHATCTL_SERVER, else the
// default; INVALID_ARGUMENT when it is not HOST:PORT[,HOST:PORT...].
absl::StatusOr<std::vector<std::string>> Servers() {
  if (absl::Status tls = ConfigureTlsFromFlags(); !tls.ok()) return tls;
  const std::string flag = absl::GetFlag(FLAGS_server);
  const std::string server = flag.empty() ? DefaultServer() : flag;
  return ParseServerList(server, !flag.empty() || server == kDefaultServer
                                     ? "--server"
                                     : "$CHATCTL_SERVER");
}

// Signals, for join: the handler only notes the signal and wakes the loop.
volatile sig_atomic_t g_interrupted = 0;
volatile sig_atomic_t g_resized = 0;
volatile sig_atomic_t g_wake_fd = -1;

void OnSignal(int sig) {
  const int saved = errno;
  if (sig == SIGWINCH) {
    g_resized = 1;
  } else {
    g_interrupted = 1;
  }
  if (g_wake_fd >= 0) {
    const char byte = 's';
    (void)!write(g_wake_fd, &byte, 1);
  }
  errno = saved;
}

void InstallSignals(int wake_fd) {
  g_wake_fd = wake_fd;
  struct sigaction sa {};
  sa.sa_handler = &OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  sigaction(SIGWINCH, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(m, &json, print).ok()) {
    return "{}";
  }
  return json;
}

// The join command's loop, in both modes: on a terminal with a LineEditor,
// or line by line from a pipe.
//
// Lines wait in lines_ until they can go: while reconnecting, while the
// session's window of unconfirmed Says is full, or until the next turn under
// the flood limits (ChatSession::SendDelay). After a rejoin, what the old
// connection had in flight goes first (ChatSession::ResendNext), so lines
// keep their order. In pipe mode each message line is accounted for
// (PipeReport): the exit status is 0 only if every one was posted.
class JoinLoop {
 public:
  JoinLoop(ChatSession* session, EventQueue* queue, RenderOptions render,
           bool terminal)
      : session_(session),
        queue_(queue),
        render_(render),
        terminal_(terminal) {}

  // Runs until the session ends. Returns the exit code.
  int Run() {
    if (terminal_) editor_.Start(Prompt());
    while (!ended_) {
      const bool want_stdin = !quitting_ && !stdin_eof_ && !Backlogged();
      pollfd fds[2] = {
          {queue_->wake_fd(), POLLIN, 0},
          {STDIN_FILENO, static_cast<short>(want_stdin ? POLLIN : 0), 0}};
      absl::Duration wait = absl::InfiniteDuration();
      if (quitting_ && quit_deadline_) {
        wait = std::max(absl::ZeroDuration(), *quit_deadline_ - absl::Now());
      } else if (!lines_.empty() || session_->resends() > 0) {
        // The next turn; events (a confirmation, a reconnect) wake us
        // sooner. Checked again at least twice a second regardless, and
        // not at once after a line had to wait.
        wait = std::min(session_->SendDelay(), absl::Milliseconds(500));
        if (line_waited_) wait = std::max(wait, absl::Milliseconds(20));
      } else if (stdin_eof_) {
        // Waiting for the last answers, which wake us.
        wait = absl::Milliseconds(500);
      }
      const int timeout_ms =
          wait == absl::InfiniteDuration()
              ? -1
              : static_cast<int>(absl::ToInt64Milliseconds(
                    absl::Ceil(wait, absl::Milliseconds(1))));
      const int n = poll(fds, want_stdin ? 2 : 1, timeout_ms);
      if (n < 0 && errno != EINTR) break;

      if (g_interrupted) {
        g_interrupted = 0;
        if (quitting_) {
          session_->Cancel();  // A second Ctrl-C: do not wait.
        } else {
          Quit("");
        }
      }
      if (g_resized) {
        g_resized = 0;
        editor_.Resize();
      }
      for (SessionEvent& e : queue_->Take()) OnSessionEvent(e);
      if (ended_) break;
      DrainLines();
      if (want_stdin && n > 0 &&
          (fds[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
        if (terminal_) {
          ReadTerminal();
        } else {
          ReadPipe();
        }
        DrainLines();
      }
      // End of input: leave once everything was sent and, from a server
      // that answers each Say, answered (a drop before that sends the rest
      // again; once all is answered, a drop does not matter). A server
      // that does not answers what was sent before the leave anyway.
      if (stdin_eof_ && lines_.empty() && !quitting_ &&
          (session_->unconfirmed() == 0 ||
           (session_->connected() && !session_->confirms_each_say()))) {
        Quit("");
        quit_deadline_.reset();
      }
      if (quitting_ && quit_deadline_ && absl::Now() >= *quit_deadline_) {
        session_->Cancel();
        quit_deadline_.reset();
      }
      editor_.Redraw();
    }
    editor_.Stop();
    std::fflush(stdout);
    int code = kExitOk;
    if (!end_status_.ok()) code = Fail(end_status_);
    if (!terminal_) {
      // What never got an answer, and what was never sent.
      report_.Finish(
          end_status_.ok()
              ? "the server did not answer it before the end"
              : absl::StrCat("not confirmed: ", end_status_.message()));
      for (const Line& line : lines_) {
        if (!quit_typed_ && IsMessage(line)) {
          report_.NotSent(
              line.number,
              end_status_.ok()
                  ? "never sent: chatctl was leaving"
                  : absl::StrCat("never sent: ", end_status_.message()));
        }
      }
      if (const std::string summary = report_.Summary(); !summary.empty()) {
        std::fprintf(stderr, "chatctl: %s\n", summary.c_str());
        code = kExitError;
      }
    }
    return code;
  }

 private:
  // A line of input, numbered from 1.
  struct Line {
    uint64_t number = 0;
    std::string text;
    size_t bytes = 0;  // Its length; text is empty when it was too long.
    bool too_long = false;
  };

  std::string Prompt() const {
    return absl::StrCat("[", session_->room(), "] ", session_->name(), "> ");
  }

  // An event line: stdout, above the input line on a terminal.
  void Show(absl::string_view line) {
    if (terminal_) {
      editor_.PrintAbove(line);
      return;
    }
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    if (std::fflush(stdout) != 0 && !quitting_) {
      Quit("");  // Nobody reads our output any more.
    }
  }

  // A line for the person, not an event: above the input line on a
  // terminal, else on stderr.
  void Say(absl::string_view text) {
    if (terminal_) {
      editor_.PrintAbove(render_.color
                             ? absl::StrCat("\x1b[33m!!\x1b[0m ", text)
                             : absl::StrCat("!! ", text));
      return;
    }
    std::fprintf(stderr, "chatctl: %s\n", std::string(text).c_str());
  }

  void OnSessionEvent(const SessionEvent& e) {
    switch (e.kind) {
      case SessionEvent::Kind::kEvent:
        Show(RenderEvent(e.event, render_));
        if (terminal_) editor_.SetPrompt(Prompt());
        break;
      case SessionEvent::Kind::kDisconnected:
      case SessionEvent::Kind::kReconnected:
        Say(e.text);
        break;
      case SessionEvent::Kind::kPosted:
        report_.Posted(e.tag);
        break;
      case SessionEvent::Kind::kNotSent:
        // In a pipe, one summary at the end; the server's notice, if any,
        // is on stdout with the events.
        if (terminal_) {
          Say(e.text);
        } else {
          report_.NotSent(e.tag, e.reason);
        }
        break;
      case SessionEvent::Kind::kEnded:
        ended_ = true;
        end_status_ = e.status;
        break;
    }
  }

  // Too much input waits to be sent: read no more for now.
  bool Backlogged() const {
    return lines_.size() >= kMaxQueuedLines || queued_bytes_ >= kMaxQueuedBytes;
  }

  void Queue(Line line) {
    queued_bytes_ += line.text.size();
    lines_.push_back(std::move(line));
  }

  void ReadTerminal() {
    LineEditor::Result r = editor_.ReadChar();
    if (r.eof) {
      Quit("");
    } else if (r.line) {
      session_->KeepTrying();
      Line line;
      line.number = ++line_count_;
      line.bytes = r.line->size();
      line.text = *std::move(r.line);
      if (!session_->connected()) {
        Say("not connected: the line is sent once reconnected");
      }
      Queue(std::move(line));
    }
  }

  void ReadPipe() {
    char buf[16384];
    const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) return;
      stdin_eof_ = true;
    } else if (n == 0) {
      stdin_eof_ = true;
    } else {
      session_->KeepTrying();
    }
    // Whole lines. A line longer than any message the server takes is not
    // kept: only its length, so that it is refused with its number.
    const size_t keep = KeepBytes();
    absl::string_view data(buf, n > 0 ? static_cast<size_t>(n) : 0);
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      const absl::string_view part = data.substr(0, nl);
      partial_bytes_ += part.size();
      if (partial_bytes_ <= keep) input_.append(part.data(), part.size());
      if (nl == absl::string_view::npos) break;
      EndLine();
      data.remove_prefix(nl + 1);
    }
    if (stdin_eof_ && partial_bytes_ > 0) EndLine();
  }

  // The bytes of a line worth keeping: a little over the server's limit,
  // since sanitizing can shorten a line.
  size_t KeepBytes() const {
    const size_t limit = session_->limits().max_message_bytes();
    return std::max<size_t>(kMaxLine, 4 * limit + 1024);
  }

  void EndLine() {
    Line line;
    line.number = ++line_count_;
    line.bytes = partial_bytes_;
    line.too_long = partial_bytes_ > KeepBytes();
    if (!line.too_long) line.text = std::move(input_);
    input_.clear();
    partial_bytes_ = 0;
    Queue(std::move(line));
  }

  // A line that posts a message (not a command, not empty).
  static bool IsMessage(const Line& line) {
    if (line.too_long) return true;
    const TypedLine typed = ParseTypedLine(line.text);
    return typed.kind == TypedLine::Kind::kSay ||
           typed.kind == TypedLine::Kind::kAction;
  }

  // Sends what can go now, in order: resends first, then the lines read.
  void DrainLines() {
    line_waited_ = false;
    while (!quitting_) {
      if (session_->SendDelay() > absl::ZeroDuration()) return;
      if (session_->ResendNext()) continue;
      if (lines_.empty()) return;
      if (!HandleLine(lines_.front())) {
        line_waited_ = true;  // Waits for the connection or the window.
        return;
      }
      queued_bytes_ -= lines_.front().text.size();
      lines_.pop_front();
    }
  }

  // Acts on `line`. Returns false when it must wait (not connected, or
  // the connection dropped as it was written) and stay first in line.
  bool HandleLine(const Line& line) {
    const uint32_t limit = session_->limits().max_message_bytes();
    if (line.too_long) {
      Refuse(line,
             limit > 0
                 ? absl::StrCat("longer than the server's limit "
                                "of ",
                                limit, " bytes: ", line.bytes, " bytes")
                 : absl::StrCat("longer than chatctl takes (", KeepBytes(),
                                " bytes): ", line.bytes, " bytes"));
      return true;
    }
    const TypedLine typed = ParseTypedLine(line.text);  // Points into it.
    absl::Status s;
    switch (typed.kind) {
      case TypedLine::Kind::kEmpty:
        return true;
      case TypedLine::Kind::kSay:
      case TypedLine::Kind::kAction: {
        const size_t bytes = SanitizeText(typed.argument).size();
        if (limit > 0 && bytes > limit) {
          Refuse(line, absl::StrCat("longer than the server's limit of ", limit,
                                    " bytes: ", bytes, " bytes"));
          return true;
        }
        s = session_->Say(typed.argument,
                          typed.kind == TypedLine::Kind::kAction, line.number);
        if (s.ok()) {
          if (!terminal_) report_.Sent(line.number);
          return true;
        }
        if (Waits(s)) return false;
        Refuse(line, s.message());
        return true;
      }
      case TypedLine::Kind::kNick:
        s = session_->Rename(typed.argument);
        break;
      case TypedLine::Kind::kJoin:
        s = session_->Move(typed.argument);
        break;
      case TypedLine::Kind::kWho: {
        // The server the session is on: the room as it sees it.
        absl::StatusOr<v1::ListMembersResponse> members = ListMembers(
            session_->stub(), session_->server(), session_->room(), Token());
        if (!members.ok()) {
          Say(members.status().message());
        } else {
          Show(render_.json ? ToJson(*members)
                            : RenderMembers(*members, render_));
        }
        return true;
      }
      case TypedLine::Kind::kQuit:
        quit_typed_ = true;  // What follows is not meant to be sent.
        Quit(typed.argument);
        return true;
      case TypedLine::Kind::kHelp:
        for (absl::string_view l : absl::StrSplit(InputHelp(), '\n')) {
          if (terminal_) {
            editor_.PrintAbove(l);
          } else {
            std::fprintf(stderr, "%s\n", std::string(l).c_str());
          }
        }
        return true;
      case TypedLine::Kind::kAuth:
        Say("chatctl signs in when it joins: chatctl join --token TOKEN (or "
            "$CHATCTL_TOKEN)");
        return true;
      case TypedLine::Kind::kBadUsage:
      case TypedLine::Kind::kUnknown:
        Say(typed.error);
        return true;
    }
    if (s.ok()) return true;
    if (Waits(s)) return false;
    Say(s.message());
    return true;
  }

  // Whether a request that failed with `s` waits to be sent again: the
  // connection is down, or just dropped (the write failed before the
  // reader noticed), or the window is full. So lines arrive in order, each
  // once.
  bool Waits(const absl::Status& s) const {
    return !quitting_ && (!session_->connected() || absl::IsUnavailable(s) ||
                          absl::IsResourceExhausted(s));
  }

  // A message line not sent at all, because of `why`.
  void Refuse(const Line& line, absl::string_view why) {
    if (terminal_) {
      Say(absl::StrCat("not sent: ", why));
    } else {
      report_.NotSent(line.number, why);
    }
  }

  void Quit(absl::string_view reason) {
    if (quitting_) return;
    quitting_ = true;
    quit_deadline_ = absl::Now() + absl::Seconds(3);
    editor_.Stop();
    session_->Leave(reason);
  }

  // Lines kept whole; a longer one is refused (KeepBytes may say more).
  static constexpr size_t kMaxLine = 64 * 1024;
  // Input read ahead of what could be sent.
  static constexpr size_t kMaxQueuedLines = 4096;
  static constexpr size_t kMaxQueuedBytes = 4 << 20;

  ChatSession* const session_;
  EventQueue* const queue_;
  const RenderOptions render_;
  const bool terminal_;
  LineEditor editor_;

  bool ended_ = false;
  absl::Status end_status_;
  bool quitting_ = false;
  std::optional<absl::Time> quit_deadline_;  // Then cancel.
  bool stdin_eof_ = false;
  std::string input_;         // Pipe mode: a partial line,
  size_t partial_bytes_ = 0;  // and its length so far.
  uint64_t line_count_ = 0;
  std::deque<Line> lines_;  // Read, not sent yet.
  size_t queued_bytes_ = 0;
  bool line_waited_ = false;  // The first of lines_ could not go.
  bool quit_typed_ = false;   // A /quit line.
  PipeReport report_;
};

absl::StatusOr<RenderOptions> RenderFlags(int fd) {
  absl::StatusOr<ColorMode> color = ParseColorMode(absl::GetFlag(FLAGS_color));
  if (!color.ok()) return color.status();
  RenderOptions render;
  render.json = absl::GetFlag(FLAGS_json);
  render.timestamps = absl::GetFlag(FLAGS_timestamps);
  render.color = !render.json && UseColor(*color, fd);
  return render;
}

int RunJoin(const Command& c, const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return UsageError(
        c, absl::StrCat("unexpected argument \"", positional[0], "\""));
  }
  absl::StatusOr<std::vector<std::string>> servers = Servers();
  if (!servers.ok()) return UsageError(c, servers.status().message());
  SessionOptions options;
  options.servers = *servers;
  options.name = absl::GetFlag(FLAGS_name);
  options.token = Token();
  options.room = absl::GetFlag(FLAGS_room);
  options.history = absl::GetFlag(FLAGS_history);
  options.give_up_after = absl::GetFlag(FLAGS_give_up_after);
  const absl::Duration keepalive = absl::GetFlag(FLAGS_keepalive);
  if (options.name.empty() && options.token.empty()) {
    return UsageError(c, "--name is required (or a --token, which names you)");
  }
  if (keepalive < absl::Seconds(1)) {
    return UsageError(c, "--keepalive must be 1s or more");
  }
  absl::StatusOr<RenderOptions> render = RenderFlags(STDOUT_FILENO);
  if (!render.ok()) return UsageError(c, render.status().message());
  const bool terminal =
      isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) && !render->json;
  if (terminal) std::setlocale(LC_CTYPE, "");

  // Bounded: a full queue stops the reader thread (see event_queue.h).
  EventQueue queue(1024);
  InstallSignals(queue.signal_fd());
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& server : options.servers) {
    channels.push_back(Dial(server, keepalive));
  }
  const bool several = options.servers.size() > 1;
  auto session =
      std::make_unique<ChatSession>(std::move(channels), options, &queue);
  absl::Status started = session->Start();
  int code;
  if (!started.ok()) {
    code = Fail(started);
  } else {
    if (several) {
      // Which of the list it is on (before the line editor starts).
      for (const std::string& why : session->skipped()) {
        std::fprintf(stderr, "chatctl: %s; trying the next server\n",
                     why.c_str());
      }
      std::fprintf(stderr, "chatctl: connected to chat-service at %s\n",
                   session->server().c_str());
    }
    JoinLoop loop(session.get(), &queue, *render, terminal);
    code = loop.Run();
  }
  queue.Close();  // Unblocks the reader thread, which the session joins.
  session.reset();
  g_wake_fd = -1;
  return code;
}

// The send command's listener: remembers what the one-shot session saw.
class SendListener final : public SessionListener {
 public:
  void OnSessionEvent(SessionEvent e) override {
    absl::MutexLock lock(&mu_);
    if (e.kind == SessionEvent::Kind::kEvent) {
      if (e.event.has_welcome()) name_ = e.event.welcome().name();
      if (e.event.has_message() && e.event.message().sender() == name_ &&
          seq_ == 0) {
        seq_ = e.event.seq();
      }
      if (e.event.has_notice() && seq_ == 0) notice_ = e.event.notice().text();
    } else if (e.kind == SessionEvent::Kind::kEnded) {
      ended_ = true;
      status_ = e.status;
    }
  }

  // Waits for the end of the session, up to `timeout`. Returns false on
  // timeout.
  bool WaitEnded(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&ended_), timeout);
  }

  absl::Status Result() {
    absl::MutexLock lock(&mu_);
    if (seq_ > 0) return absl::OkStatus();
    if (!notice_.empty()) return absl::InvalidArgumentError(notice_);
    if (!status_.ok()) return status_;
    return absl::UnavailableError(
        "the server ended the stream before "
        "sequencing the message");
  }

 private:
  absl::Mutex mu_;
  std::string name_ ABSL_GUARDED_BY(mu_);
  uint64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  std::string notice_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

int RunSend(const Command& c, const std::vector<std::string>& positional) {
  absl::StatusOr<std::vector<std::string>> servers = Servers();
  if (!servers.ok()) return UsageError(c, servers.status().message());
  SessionOptions options;
  options.servers = *servers;
  options.name = absl::GetFlag(FLAGS_name);
  options.token = Token();
  options.room = absl::GetFlag(FLAGS_room);
  options.reconnect = false;
  if (options.name.empty() && options.token.empty()) {
    return UsageError(c, "--name is required (or a --token, which names you)");
  }
  const std::string text = absl::StrJoin(positional, " ");
  if (text.empty()) return UsageError(c, "nothing to send");
  signal(SIGPIPE, SIG_IGN);

  SendListener listener;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& server : options.servers) {
    channels.push_back(Dial(server));
  }
  // Joins at the first server that can be reached; never another after.
  ChatSession session(std::move(channels), options, &listener);
  absl::Status s = session.Start();
  if (!s.ok()) return Fail(s);
  s = session.Say(text, false);
  if (!s.ok()) return Fail(s);
  // The server handles the say, then the leave, and ends the stream after
  // sending back everything before it: our message, or a notice refusing it.
  session.Leave("");
  if (!listener.WaitEnded(absl::Seconds(10))) {
    session.Cancel();
    return Fail(absl::DeadlineExceededError(absl::StrCat(
        "chat-service at ", session.server(), " did not confirm the message")));
  }
  s = listener.Result();
  if (!s.ok()) return Fail(s);
  return kExitOk;
}

int RunWho(const Command& c, const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return UsageError(
        c, absl::StrCat("unexpected argument \"", positional[0], "\""));
  }
  absl::StatusOr<std::vector<std::string>> servers = Servers();
  if (!servers.ok()) return UsageError(c, servers.status().message());
  // The first that can be reached answers, whatever its answer.
  absl::StatusOr<ConnectedServer> connected =
      ConnectFirst(*servers, kConnectTimeout);
  if (!connected.ok()) return Fail(connected.status());
  const std::string& server = (*servers)[connected->index];
  v1::ChatRoom::Stub stub(connected->channel);
  absl::StatusOr<v1::ListMembersResponse> members =
      ListMembers(&stub, server, absl::GetFlag(FLAGS_room), Token());
  if (!members.ok()) return Fail(members.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", ToJson(*members).c_str());
  } else {
    for (const v1::Member& m : members->members()) {
      std::printf("%s %s\n", m.name().c_str(), TransportName(m.transport()));
    }
  }
  return kExitOk;
}

// For history: when the server holds messages beyond `page` (the answer to
// `request`) in the direction one pages in (older; newer with after_seq),
// the command that shows them, as "(older messages: chatctl history
// --before 123)"; else "". Seqs count every event, not only messages, so a
// one-message probe tells whether such a message exists. A failed probe
// gives no hint: the page itself was shown.
std::string NextPageHint(v1::ChatRoom::Stub* stub, const std::string& server,
                         const v1::GetHistoryRequest& request,
                         const v1::GetHistoryResponse& page) {
  // first_seq 0: a server from before paging, which ignores the bounds.
  if (page.events().empty() || page.first_seq() == 0) return "";
  v1::GetHistoryRequest probe;
  probe.set_room(request.room());
  probe.set_limit(1);
  const char* which;
  std::string flag;
  if (request.after_seq() > 0) {
    const uint64_t last_shown = page.events(page.events_size() - 1).seq();
    if (last_shown >= page.last_seq()) return "";
    probe.set_after_seq(last_shown);
    which = "newer";
    flag = absl::StrCat("--after ", last_shown);
  } else {
    const uint64_t first_shown = page.events(0).seq();
    if (page.first_seq() >= first_shown) return "";
    probe.set_before_seq(first_shown);
    which = "older";
    flag = absl::StrCat("--before ", first_shown);
  }
  absl::StatusOr<v1::GetHistoryResponse> more =
      GetHistory(stub, server, probe, Token());
  if (!more.ok() || more->events().empty()) return "";
  std::string command = "chatctl history";
  if (!absl::GetFlag(FLAGS_server).empty()) {
    absl::StrAppend(&command, " --server ", absl::GetFlag(FLAGS_server));
  }
  if (!request.room().empty()) {
    absl::StrAppend(&command, " --room ", request.room());
  }
  return absl::StrCat("(", which, " messages: ", command, " ", flag, ")");
}

int RunHistory(const Command& c, const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return UsageError(
        c, absl::StrCat("unexpected argument \"", positional[0], "\""));
  }
  absl::StatusOr<RenderOptions> render = RenderFlags(STDOUT_FILENO);
  if (!render.ok()) return UsageError(c, render.status().message());
  const std::optional<uint64_t> before = absl::GetFlag(FLAGS_before);
  const std::optional<uint64_t> after = absl::GetFlag(FLAGS_after);
  if (before && after) {
    return UsageError(c, "give --before or --after, not both");
  }
  if ((before && *before == 0) || (after && *after == 0)) {
    return UsageError(c, "--before and --after take a seq, 1 or more");
  }
  v1::GetHistoryRequest request;
  request.set_room(absl::GetFlag(FLAGS_room));
  request.set_limit(absl::GetFlag(FLAGS_last));
  if (before) request.set_before_seq(*before);
  if (after) request.set_after_seq(*after);

  absl::StatusOr<std::vector<std::string>> servers = Servers();
  if (!servers.ok()) return UsageError(c, servers.status().message());
  // The first that can be reached answers, whatever its answer; the hint's
  // probe asks the same one.
  absl::StatusOr<ConnectedServer> connected =
      ConnectFirst(*servers, kConnectTimeout);
  if (!connected.ok()) return Fail(connected.status());
  const std::string& server = (*servers)[connected->index];
  v1::ChatRoom::Stub stub(connected->channel);
  absl::StatusOr<v1::GetHistoryResponse> history =
      GetHistory(&stub, server, request, Token());
  if (!history.ok()) return Fail(history.status());
  for (const v1::ChatResponse& e : history->events()) {
    std::printf("%s\n", RenderEvent(e, *render).c_str());
  }
  std::fflush(stdout);
  const std::string hint = NextPageHint(&stub, server, request, *history);
  if (!hint.empty()) std::fprintf(stderr, "%s\n", hint.c_str());
  return kExitOk;
}

int RunToken(const Command& c, const std::vector<std::string>& positional) {
  if (!positional.empty()) {
    return UsageError(
        c, absl::StrCat("unexpected argument \"", positional[0], "\""));
  }
  TokenClaims claims;
  claims.name = absl::GetFlag(FLAGS_name);
  const std::string secret_file = absl::GetFlag(FLAGS_secret_file);
  const absl::Duration ttl = absl::GetFlag(FLAGS_ttl);
  if (claims.name.empty()) return UsageError(c, "--name is required");
  if (absl::Status s = ValidateName(claims.name); !s.ok()) {
    return UsageError(c, s.message());
  }
  if (secret_file.empty()) return UsageError(c, "--secret_file is required");
  if (ttl <= absl::ZeroDuration()) {
    return UsageError(c, "--ttl must be more than 0");
  }
  if (!RoomsGiven().empty()) {
    for (const std::string& room : RoomsGiven()) {
      if (absl::Status s = NormalizeRoom(room).status(); !s.ok()) {
        return UsageError(c, s.message());
      }
    }
    claims.rooms = RoomsGiven();
  }
  absl::StatusOr<std::string> secret = ReadSecretFile(secret_file);
  if (!secret.ok()) return Fail(secret.status());
  claims.expires = absl::Now() + ttl;
  std::printf("%s\n", SignToken(claims, *secret).c_str());
  return kExitOk;
}

}  // namespace

int ChatctlMain(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(
        stderr,
        "usage: chatctl join|send|who|history|token|bench [flags] [args]\n"
        "'chatctl --help' explains.\n");
    return kExitUsage;
  }
  const absl::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "-help" ||
      (command == "help" && argc == 2)) {
    PrintTopHelp(stdout);
    return kExitOk;
  }
  if (command == "help") {
    const Command* c = FindCommand(argv[2]);
    if (c == nullptr) {
      std::fprintf(stderr, "chatctl help: unknown command \"%s\"\n", argv[2]);
      PrintTopHelp(stderr);
      return kExitUsage;
    }
    if (std::string(c->name) == "bench") {
      char help[] = "--help";
      char* bench_argv[] = {argv[2], help, nullptr};
      return RunBench(2, bench_argv);
    }
    PrintCommandHelp(*c, stdout);
    return kExitOk;
  }
  if (command == "bench") return RunBench(argc - 1, argv + 1);

  const Command* c = FindCommand(command);
  if (c == nullptr) {
    std::fprintf(
        stderr,
        "chatctl: unknown command \"%s\"\n"
        "usage: chatctl join|send|who|history|token|bench [flags] [args]\n",
        argv[1]);
    return kExitUsage;
  }
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(*c, std::vector<std::string>(argv + 2, argv + argc));
  if (!parsed.ok()) return UsageError(*c, parsed.status().message());
  if (parsed->help) {
    PrintCommandHelp(*c, stdout);
    return kExitOk;
  }
  for (const auto& [flag, value] : parsed->given) {
    if (flag != "room") continue;
    for (absl::string_view room : absl::StrSplit(value, ',')) {
      if (!room.empty()) RoomsGiven().push_back(std::string(room));
    }
  }
  const std::vector<std::string>& positional = parsed->positional;
  if (command == "join") return RunJoin(*c, positional);
  if (command == "send") return RunSend(*c, positional);
  if (command == "who") return RunWho(*c, positional);
  if (command == "token") return RunToken(*c, positional);
  if (command == "stats") return RunStats(*c, positional, Servers(), Token());
  return RunHistory(*c, positional);
}

}  // namespace chat
