#!/usr/bin/env python3
"""Writes the man page of chat-service or chatctl from the program's own help.

The flags, commands and their texts come from the built binary (chat-service
--help, chatctl help and chatctl help COMMAND), so the page says what --help
says; only the sections --help has no room for (signals, files, environment)
are written here.

  make_man.py chat-service BINARY VERSION CHANGELOG OUT
  make_man.py chatctl BINARY VERSION CHANGELOG OUT

CHANGELOG (packaging/changelog, Debian's format) gives the page its date, so
the same sources make the same page (no build time in it).
"""

import email.utils
import re
import subprocess
import sys


def run(args):
    """Runs a help command and returns its stdout (help exits 0 or 1)."""
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, check=False, timeout=60)
    if not result.stdout.strip():
        sys.exit(f"make_man: {' '.join(args)} printed nothing "
                 f"(exit {result.returncode}): {result.stderr.strip()}")
    return result.stdout


def esc(text):
    """Text for roff: backslashes, option dashes and line-leading controls."""
    text = text.replace("\\", "\\e")
    # A dash that starts a word is a minus (an option); inside a word
    # ("command-line") it is a hyphen.
    text = re.sub(r"(?<![\w.])-", r"\\-", text)
    text = text.replace("'", "\\(aq")
    if text.startswith("."):
        text = "\\&" + text
    return text


def page_date(changelog):
    """The date of the changelog's newest entry, "November 2026"."""
    with open(changelog, encoding="utf-8") as f:
        for line in f:
            if line.startswith(" -- "):
                stamp = line.split(">", 1)[1].strip()
                return email.utils.parsedate_to_datetime(stamp).strftime("%B %Y")
    sys.exit(f"make_man: no dated entry in {changelog}")


def header(name, section_title, version, date, summary):
    return [
        f'.TH {name.upper()} 1 "{date}" "chatroom {version}" "{section_title}"',
        # Flush left, no hyphenation: flag names and paths stay whole.
        ".ad l",
        ".nh",
        ".SH NAME",
        f"{name} \\- {esc(summary)}",
    ]


def paragraph(lines):
    """Prose lines (hard-wrapped by the program) as one filled paragraph."""
    return [".PP", esc(" ".join(l.strip() for l in lines))]


def preformatted(lines):
    return [".PP", ".nf"] + [esc(l) if l.strip() else ".sp" for l in lines] + [".fi"]


def text_blocks(lines):
    """Help text as roff: blocks split at blank lines; in a block, lines like
    "  --flag   what it does" (with deeper-indented continuations) become
    tagged paragraphs, other indented lines stay preformatted, and
    unindented lines are prose."""
    out = []
    prose, entries, pre = [], [], []

    def flush():
        nonlocal prose, entries, pre
        if prose:
            out.extend(paragraph(prose))
        for term, desc in entries:
            out.extend([".TP", f"\\fB{esc(term)}\\fR", esc(" ".join(desc))])
        if pre:
            out.extend(preformatted(pre))
        prose, entries, pre = [], [], []

    for line in lines + [""]:
        if not line.strip():
            flush()
            continue
        flag = re.match(r"^ {1,4}(-\S+(?: -\S+)*)(?: +(.*))?$", line)
        if flag:
            if prose or pre:
                flush()
            entries.append((flag.group(1),
                            [re.sub(r"\s{2,}", " ", flag.group(2) or "")]))
        elif entries and line.startswith("     "):
            entries[-1][1].append(re.sub(r"\s{2,}", " ", line.strip()))
        elif line.startswith(" "):
            if prose or entries:
                flush()
            pre.append(line)
        else:
            if entries or pre:
                flush()
            prose.append(line)
    return out


# chat-service ---------------------------------------------------------------

# Section titles for the files that define chat-service's flags; a file not
# named here gets its folder as title.
FLAG_GROUPS = [
    ("service/main.cc", "Rooms, history, limits and logging"),
    ("service/grpc_flags.cc", "gRPC port"),
    ("legacy_tcp/", "Legacy TCP line port"),
    ("web/", "HTTP port (the page and the WebSocket)"),
    ("net/net_flags.cc", "Connections"),
    ("net/tls_flags.cc", "TLS"),
    ("service/auth_flags.cc", "Owned names (tokens)"),
    ("metrics/", "Metrics"),
]


def group_title(path):
    for prefix, title in FLAG_GROUPS:
        if path.startswith(prefix):
            return title
    return path.split("/")[0] if "/" in path else path


def group_rank(path):
    for i, (prefix, _) in enumerate(FLAG_GROUPS):
        if path.startswith(prefix):
            return i
    return len(FLAG_GROUPS)


def parse_absl_help(text):
    """chat-service --help: (usage, description lines, {file: [flags]})."""
    lines = text.splitlines()
    first = lines[0]
    usage = first.split(": ", 1)[1] if ": " in first else first
    description, files, current, flag = [], {}, None, None
    i = 1
    while i < len(lines) and lines[i].strip():
        description.append(lines[i])
        i += 1
    for line in lines[i:]:
        group = re.match(r"^  Flags from (.*):$", line)
        if group:
            current = files.setdefault(group.group(1), [])
            flag = None
        elif current is not None and line.startswith("    --"):
            flag = [line.strip()]
            current.append(flag)
        elif flag is not None and line.startswith("      "):
            flag.append(line.strip())
        else:
            flag = None
    parsed = {}
    for path, flags in files.items():
        for words in flags:
            m = re.match(r"^--(\S+) \((.*)\); default: (.*);$", " ".join(words),
                         re.S)
            if not m:
                sys.exit(f"make_man: cannot read the flag {' '.join(words)!r}")
            parsed.setdefault(path, []).append(m.groups())
    if not parsed:
        sys.exit("make_man: chat-service --help lists no flags")
    return usage, description, parsed


def chat_service_page(binary, version, date):
    usage, description, files = parse_absl_help(run([binary, "--help"]))
    out = header("chat-service", "User Commands", version, date,
                 "the chatroom server")
    out += [".SH SYNOPSIS", f"\\fBchat\\-service\\fR {esc(usage.split(' ', 1)[1])}"]
    out += [".SH DESCRIPTION"] + paragraph(description)
    out += paragraph([
        "It prints one line to standard output once every port listens, "
        "\"chat-service ready grpc=HOST:PORT legacy=HOST:PORT ...\" (a port "
        "that is off reads \"off\"), and logs to standard error, one line "
        "per event as key=value fields (see --log_level). Under systemd it "
        "tells systemd when it is ready (Type=notify) and its log lines go to "
        "the journal with their priority."])
    out.append(".SH OPTIONS")
    out += paragraph([
        "Flags take the forms --flag=value and --flag value; booleans also "
        "--flag and --noflag. --help lists them, --version prints the "
        "version, --flagfile=FILE reads flags from FILE, one a line."])
    for path in sorted(files, key=lambda p: (group_rank(p), p)):
        out.append(f'.SS "{esc(group_title(path))}"')
        for name, help_text, default in sorted(files[path]):
            shown = "" if default in ('""', "") else f" (default: {default})"
            out += [".TP", f"\\fB\\-\\-{esc(name)}\\fR", esc(help_text + shown)]
    out += [
        ".SH SIGNALS",
        ".TP", "\\fBSIGTERM\\fR, \\fBSIGINT\\fR",
        esc("Shut down cleanly: every member is told \"chat-service is "
            "shutting down\", what is queued is written, the store is closed; "
            "the process exits 0 within about a second."),
        ".TP", "\\fBSIGHUP\\fR",
        esc("Reload the TLS certificate and key (--tls_cert, --tls_key); a "
            "bad file is logged and the old certificate kept."),
        ".SH EXIT STATUS",
        esc("0 after a clean shutdown; 1 when it cannot start (a bad flag, a "
            "port in use, a store it cannot open), with one line on standard "
            "error saying why."),
        ".SH FILES",
        ".TP", "\\fI/etc/default/chat\\-service\\fR",
        esc("With the Debian package: CHAT_SERVICE_ARGS, the flags the "
            "systemd unit chat-service.service starts it with."),
        ".TP", "\\fI/var/lib/chatroom\\fR",
        esc("With the Debian package: the store (--data_dir), kept by "
            "systemd as the unit's state directory."),
        ".SH SEE ALSO",
        "\\fBchatctl\\fR(1), \\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1)",
    ]
    return out


# chatctl --------------------------------------------------------------------


def chatctl_page(binary, version, date):
    top = run([binary, "help"]).splitlines()
    summary = top[0].split(": ", 1)[1].rstrip(".") if ": " in top[0] else top[0]
    usage = next(l for l in top if l.startswith("usage: "))[len("usage: "):]
    commands, rest, in_commands = [], [], False
    for line in top[1:]:
        if line.startswith("usage: "):
            continue
        if line == "commands:":
            in_commands = True
            continue
        m = re.match(r"^  (\S+)\s+(.*)$", line)
        if in_commands and m:
            commands.append(m.groups())
            continue
        in_commands = False
        rest.append(line)
    if not commands:
        sys.exit("make_man: chatctl help lists no commands")

    out = header("chatctl", "User Commands", version, date, summary)
    out += [".SH SYNOPSIS", f"\\fBchatctl\\fR {esc(usage.split(' ', 1)[1])}"]
    out += [".SH DESCRIPTION"]
    out += paragraph(["chatctl talks to chat-service over gRPC: an interactive "
                      "chat in a terminal, and a tool for scripts."])
    # "Exit codes: ..." (to the next blank line) is the EXIT STATUS.
    exit_status = []
    for i, line in enumerate(rest):
        if re.match(r"^Exit (codes|status):", line):
            end = rest.index("", i) if "" in rest[i:] else len(rest)
            exit_status = rest[i:end]
            rest = rest[:i] + rest[end:]
            break
    out += text_blocks(rest)
    out.append(".SH COMMANDS")
    for name, what in commands:
        out.append(f'.SS "{esc(name)} \\- {esc(what)}"')
        lines = run([binary, "help", name]).splitlines()
        # "usage: ..." with its indented continuations is the synopsis.
        if lines and lines[0].startswith("usage: "):
            synopsis = [lines.pop(0)[len("usage: "):]]
            while lines and lines[0].startswith(" ") and not re.match(
                    r"^ {1,4}-", lines[0]):
                synopsis.append(lines.pop(0).strip())
            # One filled line per form ("chatctl bench ..." may have two).
            forms = []
            for part in synopsis:
                if part.startswith("chatctl ") or not forms:
                    forms.append(part)
                else:
                    forms[-1] += " " + part
            out.append(".PP")
            out += "\n.br\n".join(f"\\fB{esc(f)}\\fR" for f in forms).split("\n")
        lines = [l for l in lines if l != "flags:"]
        out += text_blocks(lines)
    if exit_status:
        exit_status[0] = re.sub(r"^Exit (codes|status): *", "", exit_status[0])
        out += [".SH EXIT STATUS", esc(" ".join(exit_status))]
    out += [
        ".SH ENVIRONMENT",
        ".TP", "\\fBCHATCTL_SERVER\\fR",
        esc("The server when --server is not given (default 127.0.0.1:50051)."),
        ".TP", "\\fBCHATCTL_TOKEN\\fR",
        esc("The token for an owned name when --token is not given."),
        ".TP", "\\fBCHATCTL_TLS_CA\\fR",
        esc("The CA certificate (PEM) to trust when --tls_ca is not given."),
        ".TP", "\\fBGRPC_VERBOSITY\\fR",
        esc("When set, gRPC's own log lines are shown (chatctl hides them)."),
        ".SH SEE ALSO",
        "\\fBchat\\-service\\fR(1)",
    ]
    return out


def main(argv):
    if len(argv) != 6 or argv[1] not in ("chat-service", "chatctl"):
        sys.exit(__doc__)
    program, binary, version, changelog, out_path = argv[1:]
    date = page_date(changelog)
    make = chat_service_page if program == "chat-service" else chatctl_page
    lines = make(binary, version, date)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv)
