// LineEditor: the terminal input line of `chatctl join`, on libedit's
// readline-compatible callback interface, so that the caller can poll(2)
// stdin together with other file descriptors.
//
// Lines printed with PrintAbove appear above the input line; the prompt, the
// half-typed text and the cursor are then redrawn intact below (libedit's
// rl_forced_update_display). Accepted lines are erased from the screen: the
// caller decides what to show for them (chatctl shows a message once, when
// the server has sequenced it).
//
// Thread-safety: libedit's readline interface is global state. Use at most
// one LineEditor per process, from one thread only.
#ifndef CHATROOM_CLI_LINE_EDITOR_H_
#define CHATROOM_CLI_LINE_EDITOR_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace chat {

class LineEditor {
 public:
  LineEditor() = default;
  // Restores the terminal if Stop was not called.
  ~LineEditor();

  LineEditor(const LineEditor&) = delete;
  LineEditor& operator=(const LineEditor&) = delete;

  // Puts the terminal in editing mode and shows `prompt`.
  void Start(absl::string_view prompt);

  // Changes the prompt; shown at the next redraw.
  void SetPrompt(absl::string_view prompt);

  // What one ReadChar produced.
  struct Result {
    std::optional<std::string> line;  // A line was accepted (Enter).
    bool eof = false;                 // Ctrl-D on an empty line.
  };

  // Reads what stdin has (call when poll says it is readable) and edits.
  Result ReadChar();

  // Prints `line` (no line ending) above the input line. Call Redraw once
  // after a batch of lines.
  void PrintAbove(absl::string_view line);

  // Redraws the prompt and the half-typed line below what was printed.
  void Redraw();

  // The terminal changed size.
  void Resize();

  // Leaves editing mode: clears the input line, restores the terminal.
  void Stop();

  bool active() const { return active_; }

 private:
  static void OnLine(char* line);

  std::string prompt_;
  bool active_ = false;
  bool dirty_ = false;  // Printed (or prompt changed) since the last redraw.
  bool input_empty_ = true;  // A fresh prompt: nothing typed yet.
};

// DisplayWidth
//
// Terminal columns taken by UTF-8 `text` (per wcwidth; control characters
// and invalid bytes count 1). Exposed for tests.
int DisplayWidth(absl::string_view text);

}  // namespace chat

#endif  // CHATROOM_CLI_LINE_EDITOR_H_
