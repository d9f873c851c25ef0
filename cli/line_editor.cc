#include "cli/line_editor.h"

// libedit (BSD), not GNU readline (GPL-3): see cli/CMakeLists.txt.
#include <editline/readline.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cwchar>
#include <string>

#include "absl/strings/str_cat.h"

namespace chat {
namespace {

// Lines kept for the up arrow.
constexpr int kHistoryLines = 500;

// Where OnLine, a plain C callback, leaves its result for ReadChar.
LineEditor::Result* g_result = nullptr;

int TerminalColumns() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 80;
}

void Write(absl::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

int DisplayWidth(absl::string_view text) {
  std::mbstate_t state{};
  int width = 0;
  size_t i = 0;
  while (i < text.size()) {
    wchar_t wc;
    const size_t n =
        std::mbrtowc(&wc, text.data() + i, text.size() - i, &state);
    if (n == static_cast<size_t>(-1) || n == static_cast<size_t>(-2) ||
        n == 0) {
      state = std::mbstate_t{};
      ++width;
      ++i;
      continue;
    }
    const int w = wcwidth(wc);
    width += w < 0 ? 1 : w;
    i += n;
  }
  return width;
}

LineEditor::~LineEditor() { Stop(); }

void LineEditor::OnLine(char* line) {
  if (g_result == nullptr) {
    std::free(line);
    return;
  }
  if (line == nullptr) {
    g_result->eof = true;
    return;
  }
  g_result->line = std::string(line);
  std::free(line);
}

void LineEditor::Start(absl::string_view prompt) {
  prompt_ = std::string(prompt);
  stifle_history(kHistoryLines);
  rl_callback_handler_install(prompt_.c_str(), &LineEditor::OnLine);
  active_ = true;
  dirty_ = false;
  input_empty_ = true;
}

void LineEditor::SetPrompt(absl::string_view prompt) {
  if (prompt == prompt_) return;
  prompt_ = std::string(prompt);
  if (active_) {
    rl_set_prompt(prompt_.c_str());
    dirty_ = true;
  }
}

LineEditor::Result LineEditor::ReadChar() {
  Result result;
  if (!active_) return result;
  g_result = &result;
  rl_callback_read_char();
  g_result = nullptr;
  input_empty_ = result.line.has_value();
  if (result.line) {
    // libedit leaves the accepted line on the screen with the cursor below
    // it; erase it, and its wrapped rows.
    const int cols = TerminalColumns();
    const int width = DisplayWidth(prompt_) + DisplayWidth(*result.line);
    const int rows = width == 0 ? 1 : (width + cols - 1) / cols;
    Write(absl::StrCat("\x1b[", rows, "A\r\x1b[J"));
    std::fflush(stdout);
    if (!result.line->empty()) add_history(result.line->c_str());
    // In libedit's callback mode the terminal is left in line mode after a
    // line; installing the handler again resets the line and the mode, and
    // shows the prompt.
    rl_callback_handler_install(prompt_.c_str(), &LineEditor::OnLine);
  } else if (result.eof) {
    Stop();
  }
  return result;
}

void LineEditor::PrintAbove(absl::string_view line) {
  if (active_ && !dirty_) {
    // The prompt and the input may wrap over several rows: go up to the
    // first one, and clear from there down.
    // rl_line_buffer and rl_point are current after each read, but keep
    // the accepted line until the next one.
    const int before_cursor =
        DisplayWidth(prompt_) +
        (input_empty_ || rl_line_buffer == nullptr
             ? 0
             : DisplayWidth(
                   absl::string_view(rl_line_buffer, std::max(rl_point, 0))));
    const int rows_up = before_cursor / TerminalColumns();
    if (rows_up > 0) Write(absl::StrCat("\x1b[", rows_up, "A"));
    Write("\r\x1b[J");
  } else if (active_) {
    Write("\r\x1b[K");
  }
  Write(line);
  Write("\n");
  dirty_ = true;
}

void LineEditor::Redraw() {
  std::fflush(stdout);
  if (active_ && dirty_) rl_forced_update_display();
  dirty_ = false;
  std::fflush(stdout);
}

void LineEditor::Resize() {
  if (active_) rl_resize_terminal();
}

void LineEditor::Stop() {
  if (!active_) return;
  active_ = false;
  rl_callback_handler_remove();
  Write("\r\x1b[K");
  std::fflush(stdout);
}

}  // namespace chat
