#include "service/http2_refusal.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace chat {
namespace {

constexpr absl::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kHeaders = 0x1;
constexpr uint8_t kSettings = 0x4;
constexpr uint8_t kGoaway = 0x7;
constexpr uint8_t kAck = 0x1;
constexpr uint8_t kEndStream = 0x1;
constexpr uint8_t kEndHeaders = 0x4;
// SETTINGS_MAX_FRAME_SIZE's default: a client sends no larger frame until
// the server allows it, which this one never does.
constexpr size_t kMaxFrame = 16384;

void AppendFrameHeader(std::string* out, size_t length, uint8_t type,
                       uint8_t flags, uint32_t stream) {
  out->push_back(static_cast<char>((length >> 16) & 0xff));
  out->push_back(static_cast<char>((length >> 8) & 0xff));
  out->push_back(static_cast<char>(length & 0xff));
  out->push_back(static_cast<char>(type));
  out->push_back(static_cast<char>(flags));
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((stream >> shift) & 0xff));
  }
}

void AppendUint32(std::string* out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

// An HPACK integer with a 7-bit prefix and the H bit clear (RFC 7541, 5.1).
void AppendHpackLength(std::string* out, size_t n) {
  if (n < 127) {
    out->push_back(static_cast<char>(n));
    return;
  }
  out->push_back(0x7f);
  n -= 127;
  while (n >= 128) {
    out->push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out->push_back(static_cast<char>(n));
}

// grpc-message's encoding: bytes outside printable ASCII, and '%', as %XX.
std::string PercentEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b > 0x7e || b == '%') {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

void AppendHpackLiteral(std::string* out, absl::string_view name,
                        absl::string_view value) {
  out->push_back(0);  // Literal without indexing, new name.
  AppendHpackLength(out, name.size());
  out->append(name.data(), name.size());
  AppendHpackLength(out, value.size());
  out->append(value.data(), value.size());
}

Http2Refusal::Http2Refusal(int grpc_status, std::string message)
    : grpc_status_(grpc_status), message_(std::move(message)) {}

std::string Http2Refusal::ServerPreface() {
  std::string out;
  AppendFrameHeader(&out, 0, kSettings, 0, 0);
  return out;
}

std::string Http2Refusal::Feed(absl::string_view bytes) {
  std::string out;
  if (done_) return out;
  buffered_.append(bytes.data(), bytes.size());
  if (!preface_seen_) {
    const size_t n = std::min(buffered_.size(), kClientPreface.size());
    if (absl::string_view(buffered_).substr(0, n) !=
        kClientPreface.substr(0, n)) {
      done_ = true;  // Not an HTTP/2 client.
      return out;
    }
    if (n < kClientPreface.size()) return out;
    buffered_.erase(0, kClientPreface.size());
    preface_seen_ = true;
  }
  size_t at = 0;
  while (!done_ && buffered_.size() - at >= 9) {
    const auto b = [&](size_t i) {
      return static_cast<uint8_t>(buffered_[at + i]);
    };
    const size_t length = (size_t{b(0)} << 16) | (size_t{b(1)} << 8) | b(2);
    if (length > kMaxFrame) {
      done_ = true;
      break;
    }
    if (buffered_.size() - at < 9 + length) break;
    const uint8_t type = b(3);
    const uint8_t flags = b(4);
    const uint32_t stream = ((uint32_t{b(5)} << 24) | (uint32_t{b(6)} << 16) |
                             (uint32_t{b(7)} << 8) | b(8)) &
                            0x7fffffff;
    if (type == kSettings && (flags & kAck) == 0) {
      AppendFrameHeader(&out, 0, kSettings, kAck, 0);
    } else if (type == kHeaders && stream != 0) {
      Answer(stream, &out);
      done_ = true;
    }
    at += 9 + length;
  }
  buffered_.erase(0, at);
  if (buffered_.size() > kMaxBuffered) done_ = true;
  if (done_) buffered_.clear();
  return out;
}

void Http2Refusal::Answer(uint32_t stream, std::string* out) {
  std::string block;
  block.push_back(static_cast<char>(0x88));  // :status 200 (static index 8).
  AppendHpackLiteral(&block, "content-type", "application/grpc");
  AppendHpackLiteral(&block, "grpc-status", absl::StrCat(grpc_status_));
  AppendHpackLiteral(&block, "grpc-message",
                     PercentEncode(message_.substr(0, 1024)));
  AppendFrameHeader(out, block.size(), kHeaders, kEndStream | kEndHeaders,
                    stream);
  out->append(block);
  // No other call will be served on this connection.
  const absl::string_view debug = absl::string_view(message_).substr(0, 1024);
  AppendFrameHeader(out, 8 + debug.size(), kGoaway, 0, 0);
  AppendUint32(out, stream);  // Last stream processed.
  AppendUint32(out, 0);       // NO_ERROR.
  out->append(debug.data(), debug.size());
}

}  // namespace chat
