#include "web/web_protocol.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace chat {

absl::Status ParseChatRequestJson(absl::string_view json,
                                  v1::ChatRequest* request) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), request,
      options);
  if (!status.ok()) {
    // Protobuf's message goes on to quote the input on more lines: the
    // first says what is wrong.
    absl::string_view why(status.message().data(), status.message().size());
    why = why.substr(0, why.find('\n'));
    return absl::InvalidArgumentError(
        absl::StrCat("not a chat.v1.ChatRequest in JSON: ", why));
  }
  return absl::OkStatus();
}

std::string ChatResponseJson(const v1::ChatResponse& response) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(response, &json, options)
           .ok()) {
    // Only a malformed message fails; the core makes none.
    return "{}";
  }
  return json;
}

CloseFrame CloseFor(const absl::Status& status) {
  CloseFrame frame;
  if (status.ok()) return frame;
  frame.code = static_cast<uint16_t>(4000 + static_cast<int>(status.code()));
  absl::string_view reason = status.message();
  constexpr size_t kMaxReason = 123;  // RFC 6455 5.5: 125 less the code.
  if (reason.size() > kMaxReason) {
    size_t cut = kMaxReason;
    // Back up over continuation bytes to a character's first byte.
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80)
      --cut;
    reason = reason.substr(0, cut);
  }
  frame.reason = std::string(reason);
  return frame;
}

bool OriginAllowed(absl::string_view origin, absl::string_view host,
                   const std::vector<std::string>& allowed) {
  if (origin.empty()) return true;  // Not a browser: nobody's name to take.
  if (!host.empty() &&
      (absl::EqualsIgnoreCase(origin, absl::StrCat("http://", host)) ||
       absl::EqualsIgnoreCase(origin, absl::StrCat("https://", host)))) {
    return true;  // The page's own.
  }
  for (const std::string& entry : allowed) {
    if (entry == "*" || absl::EqualsIgnoreCase(origin, entry)) return true;
  }
  return false;
}

}  // namespace chat
