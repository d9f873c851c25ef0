#include "cli/args.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"

// The flags several commands take. Each command's own flags are defined
// beside it (commands.cc, tls_flags.cc, bench_options.cc).
ABSL_FLAG(std::string, server, "",
          "chat-service address HOST:PORT, or several HOST:PORT,HOST:PORT,... "
          "tried in order (default: $CHATCTL_SERVER, else 127.0.0.1:50051)");
ABSL_FLAG(std::string, room, "", "the room (default: lobby)");
ABSL_FLAG(bool, json, false,
          "print each event as one JSON object per line (for scripts)");

namespace chat {

absl::StatusOr<ParsedArgs> ParseArgs(const Command& command,
                                     const std::vector<std::string>& args) {
  auto allowed = [&command](absl::string_view name) {
    return std::any_of(command.flags.begin(), command.flags.end(),
                       [name](const char* f) { return name == f; });
  };
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--") {
      parsed.positional.insert(parsed.positional.end(), args.begin() + i + 1,
                               args.end());
      return parsed;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(std::string(arg));
      continue;
    }
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    absl::string_view name = arg;
    std::optional<std::string> value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    }
    if (name == "help" || name == "h") {
      parsed.help = true;
      return parsed;
    }
    absl::CommandLineFlag* flag = nullptr;
    if (allowed(name)) flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && absl::StartsWith(name, "no") &&
        allowed(name.substr(2)) && !value) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      if (flag != nullptr && flag->IsOfType<bool>()) {
        value = "false";
      } else {
        flag = nullptr;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
    }
    std::string error;
    if (!flag->ParseFrom(*value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag->Name(), ": ", error));
    }
    parsed.given.emplace_back(flag->Name(), *std::move(value));
  }
  return parsed;
}

bool Given(const ParsedArgs& parsed, absl::string_view name) {
  return std::any_of(parsed.given.begin(), parsed.given.end(),
                     [name](const auto& g) { return g.first == name; });
}

int UsageError(const Command& command, absl::string_view problem) {
  std::fprintf(stderr, "chatctl %s: %s\nusage: %s\n", command.name,
               std::string(problem).c_str(), command.usage);
  return kExitUsage;
}

void PrintCommandHelp(const Command& command, FILE* out) {
  std::fprintf(out, "usage: %s\n\n%s\n", command.usage, command.details);
  if (!command.flags.empty()) std::fprintf(out, "\nflags:\n");
  for (const char* name : command.flags) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr) continue;
    std::string def = flag->DefaultValue();
    std::fprintf(out, "  --%-11s %s%s\n", name, flag->Help().c_str(),
                 def.empty() || def == "false" || def == "0"
                     ? ""
                     : absl::StrCat(" (default ", def, ")").c_str());
  }
}

}  // namespace chat
