// The web page's files (web/page/), compiled into chat-service by the build
// (web/embed_assets.cmake), served by the HTTP port as they are.
#ifndef CHATROOM_WEB_ASSETS_H_
#define CHATROOM_WEB_ASSETS_H_

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace chat {

struct Asset {
  absl::string_view path;          // "/index.html"
  absl::string_view content_type;  // "text/html; charset=utf-8"
  absl::string_view body;
};

// PageAssets
//
// Every file of the page, in no particular order.
absl::Span<const Asset> PageAssets();

}  // namespace chat

#endif  // CHATROOM_WEB_ASSETS_H_
