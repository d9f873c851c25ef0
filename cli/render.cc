#include "cli/render.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "service/format.h"

namespace chat {
namespace {

// Readable on dark and light backgrounds: red, green, yellow, blue, magenta,
// cyan, in normal and bright.
constexpr int kPalette[] = {31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96};

// A span of a rendered line to color.
struct Span {
  size_t offset;
  size_t length;
  int color;
};

// Colors `name` where it sits at `offset` in `line`, if it does.
void AddName(const std::string& line, size_t offset, const std::string& name,
             std::vector<Span>* spans) {
  if (name.empty() || offset > line.size() ||
      line.compare(offset, name.size(), name) != 0) {
    return;
  }
  spans->push_back({offset, name.size(), NameColor(name)});
}

// The spans to color in FormatEventLine(event) == line, left to right.
std::vector<Span> ColorSpans(const v1::ChatResponse& event,
                             const std::string& line) {
  std::vector<Span> spans;
  switch (event.event_case()) {
    case v1::ChatResponse::kMessage:
      // "<alice> hi" or "* alice waves".
      AddName(line, event.message().action() ? 2 : 1, event.message().sender(),
              &spans);
      break;
    case v1::ChatResponse::kMemberJoined:
      AddName(line, 3, event.member_joined().member().name(), &spans);
      break;
    case v1::ChatResponse::kMemberLeft:
      AddName(line, 3, event.member_left().member().name(), &spans);
      break;
    case v1::ChatResponse::kMemberRenamed: {
      const std::string& new_name = event.member_renamed().new_name();
      AddName(line, 3, event.member_renamed().old_name(), &spans);
      if (line.size() >= new_name.size()) {
        AddName(line, line.size() - new_name.size(), new_name, &spans);
      }
      break;
    }
    case v1::ChatResponse::kNotice:
      spans.push_back({0, 2, 33});  // A yellow "!!".
      break;
    default:
      break;
  }
  return spans;
}

std::string Paint(const std::string& line, const std::vector<Span>& spans) {
  std::string out;
  size_t at = 0;
  for (const Span& s : spans) {
    if (s.offset < at || s.offset + s.length > line.size()) continue;
    absl::StrAppend(&out, line.substr(at, s.offset - at), "\x1b[", s.color, "m",
                    line.substr(s.offset, s.length), "\x1b[0m");
    at = s.offset + s.length;
  }
  out.append(line, at, std::string::npos);
  return out;
}

}  // namespace

absl::StatusOr<ColorMode> ParseColorMode(absl::string_view text) {
  if (text == "auto") return ColorMode::kAuto;
  if (text == "always") return ColorMode::kAlways;
  if (text == "never") return ColorMode::kNever;
  return absl::InvalidArgumentError(absl::StrCat(
      "--color must be auto, always or never, not \"", text, "\""));
}

bool UseColor(ColorMode mode, int fd) {
  switch (mode) {
    case ColorMode::kAlways:
      return true;
    case ColorMode::kNever:
      return false;
    case ColorMode::kAuto:
      break;
  }
  const char* term = std::getenv("TERM");
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(fd) && (no_color == nullptr || *no_color == '\0') &&
         term != nullptr && std::strcmp(term, "dumb") != 0;
}

int NameColor(absl::string_view name) {
  // FNV-1a: stable across runs and platforms, unlike std::hash.
  uint32_t h = 2166136261u;
  for (char c : name) {
    h ^= static_cast<unsigned char>(absl::ascii_tolower(c));
    h *= 16777619u;
  }
  return kPalette[h % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

std::string RenderEvent(const v1::ChatResponse& event,
                        const RenderOptions& options) {
  if (options.json) {
    std::string json;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    if (!google::protobuf::util::MessageToJsonString(event, &json, print)
             .ok()) {
      return "{}";
    }
    return json;
  }
  const std::string line = FormatEventLine(event);
  std::string out;
  if (options.timestamps) {
    const absl::Time t = absl::FromUnixSeconds(event.time().seconds()) +
                         absl::Nanoseconds(event.time().nanos());
    const std::string stamp =
        event.has_time() ? absl::FormatTime("%H:%M:%S", t, options.zone)
                         : "--:--:--";
    out = options.color ? absl::StrCat("\x1b[2m[", stamp, "]\x1b[0m ")
                        : absl::StrCat("[", stamp, "] ");
  }
  if (!options.color) return out + line;
  return out + Paint(line, ColorSpans(event, line));
}

std::string RenderMembers(const v1::ListMembersResponse& members,
                          const RenderOptions& options) {
  std::string names;
  for (int i = 0; i < members.members_size(); ++i) {
    const v1::Member& m = members.members(i);
    absl::StrAppend(&names, i == 0 ? "" : ", ");
    if (options.color) {
      absl::StrAppend(&names, "\x1b[", NameColor(m.name()), "m", m.name(),
                      "\x1b[0m");
    } else {
      absl::StrAppend(&names, m.name());
    }
    if (m.transport() == v1::TRANSPORT_TCP) absl::StrAppend(&names, " (tcp)");
    if (m.transport() == v1::TRANSPORT_WEB) absl::StrAppend(&names, " (web)");
  }
  if (members.members_size() == 0) {
    return absl::StrCat("-- nobody in room ", members.room());
  }
  return absl::StrCat("-- ", members.members_size(), " in room ",
                      members.room(), ": ", names);
}

}  // namespace chat
