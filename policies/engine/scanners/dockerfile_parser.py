"""BuildKit's Dockerfile line parser (``frontend/dockerfile/parser/parser.go``), ported.

Parser directives (``syntax``, ``escape``, ``check``), escape tokens, line continuations (with
comments and blank lines inside them), heredocs, flags and JSON arguments: a file becomes the
list of ``Node`` instructions BuildKit would see. ``detect_syntax`` finds the frontend image a
``# syntax=`` directive makes BuildKit pull first (``parser.DetectSyntax``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from policies.engine.scanners.go_quote import go_quote
from policies.engine.scanners.results import ScanError
from policies.engine.scanners.shell_lexer import ShellLexer, ShellLexError, is_go_space

_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
TOKEN_WS = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_RE = re.compile(r"(\d*)<<(-?)\s*([^<]*)")
_HEREDOC_OPERATOR = re.compile(r"\d*<<-?")
_CONTINUATION = {
    "\\": re.compile(r"([^\\])\\[ \t]*\Z|^\\[ \t]*\Z"),
    "`": re.compile(r"([^`])`[ \t]*\Z|^`[ \t]*\Z"),
}
INSTRUCTIONS = frozenset(
    {
        "add",
        "arg",
        "cmd",
        "copy",
        "entrypoint",
        "env",
        "expose",
        "from",
        "healthcheck",
        "label",
        "maintainer",
        "onbuild",
        "run",
        "shell",
        "stopsignal",
        "user",
        "volume",
        "workdir",
    }
)
# Instructions whose arguments may be a JSON array (parseMaybeJSON / parseMaybeJSONToList).
_JSON_CAPABLE = frozenset({"add", "cmd", "copy", "entrypoint", "run", "shell", "volume"})
_HEREDOC_CAPABLE = frozenset({"add", "copy", "run"})


class _ParseFailure(Exception):
    """A fatal parser error: BuildKit stops reading the file at this point."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Node:
    """One instruction as the line parser produced it."""

    cmd: str  # lower-cased instruction keyword
    flags: list[str]
    rest: str  # arguments after flags, trimmed
    line: int
    is_json: bool = False
    error: str | None = None
    sub: Node | None = None  # ONBUILD's trigger instruction
    words: list[str] | None = None  # ENV/LABEL words as parseWords splits them


def _is_comment(raw: str) -> bool:
    return raw.rstrip("\r\n").lstrip().startswith("#")


_SIMPLE_FLAG = re.compile(r"[^\S\x1c-\x1f]*(--[^\s'\"\\]*)(?=[^\S\x1c-\x1f]|\Z)")
_GO_WS_SPLIT = re.compile(r"[^\S\x1c-\x1f]+")


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Split leading ``--flag=value`` words off ``line`` (extractBuilderFlags)."""
    # Fast path for the common case: flag words without quotes or backslashes.
    words: list[str] = []
    pos = 0
    while True:
        match = _SIMPLE_FLAG.match(line, pos)
        if match is None or match.group(1) == "--":
            break
        words.append(match.group(1))
        pos = match.end()
    if pos:
        rest, more = _extract_flags_slow(line[pos:])
        return rest, words + more
    return _extract_flags_slow(line)


def _extract_flags_slow(line: str) -> tuple[str, list[str]]:
    words: list[str] = []
    word: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    quote = ""
    blank_ok = False
    pos, n = 0, len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if is_go_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        if phase == in_word:
            if is_go_space(ch):
                phase = in_spaces
                text = "".join(word)
                if text == "--":
                    return line[pos:], words
                if blank_ok or text:
                    words.append(text)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = in_quote
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote:
            phase = in_word
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", words


def parse_words(rest: str, escape: str) -> list[str]:
    """Quote-aware word split that keeps the quotes (parser.parseWords, used by ARG/ENV)."""
    if "'" not in rest and '"' not in rest and escape not in rest:
        return [word for word in _GO_WS_SPLIT.split(rest) if word]  # nothing to keep together
    words: list[str] = []
    buf: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    quote = ""
    blank_ok = False
    pos, n = 0, len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if is_go_space(ch):
                pos += 1
                continue
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == in_word:
            if is_go_space(ch):
                phase = in_spaces
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = in_quote
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote:
            phase = in_word
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            buf.append(ch)
            ch = rest[pos]
        buf.append(ch)
        pos += 1
    return words


def _json_args(rest: str) -> tuple[bool, str | None]:
    """Return (is JSON form, error) the way parseMaybeJSON classifies ``rest``."""
    text = rest.lstrip()
    if not text.startswith("["):
        return False, None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False, None
    if not isinstance(value, list):
        return False, None
    if not all(isinstance(item, str) for item in value):
        return False, "when using JSON array syntax, arrays must be comprised of strings only"
    return True, None


def _make_node(line: str, lineno: int, escape: str) -> Node:
    parts = TOKEN_WS.split(line.strip(), maxsplit=1)
    cmd = parts[0].lower()
    flags: list[str] = []
    rest = ""
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1])
        rest = rest.strip()
    node = Node(cmd=cmd, flags=flags, rest=rest, line=lineno)
    if cmd in _JSON_CAPABLE:
        node.is_json, node.error = _json_args(rest)
    elif cmd == "healthcheck":
        kind_and_cmd = TOKEN_WS.split(rest, maxsplit=1)
        if len(kind_and_cmd) == 2:
            node.is_json, node.error = _json_args(kind_and_cmd[1])
    elif cmd in ("env", "label"):
        node.words = parse_words(rest, escape)
        node.error = _check_name_val(node.words, rest, cmd.upper())
    elif cmd == "onbuild" and rest:
        node.sub = _make_node(rest, lineno, escape)
        if node.sub.error:
            node.error = node.sub.error
    return node


def _check_name_val(words: list[str], rest: str, key: str) -> str | None:
    if not words:
        return None
    if "=" not in words[0]:
        if len(TOKEN_WS.split(rest, maxsplit=1)) < 2:
            return f"{key} must have two arguments"
        return None
    for word in words:
        if "=" not in word:
            return (
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
    if any(word.startswith("=") for word in words):
        return f"{key} names can not be blank"
    return None


def _heredoc_names(line: str) -> list[tuple[str, bool]]:
    """Heredoc terminators (name, chomp) opened on ``line`` (parser.heredocsFromLine)."""
    lexer = ShellLexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        _, words = lexer.process(line, {})
    except ShellLexError:
        return []  # BuildKit ignores lexing errors here: no heredoc is recognised
    found: list[tuple[str, bool]] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        # `<< EOF` (operator and word separated by blanks) is one heredoc too.
        if _HEREDOC_OPERATOR.fullmatch(word) and i < len(words):
            word = f"{word} {words[i]}"
            i += 1
        match = _HEREDOC_RE.fullmatch(word)
        if not match or not match.group(3):
            continue
        rest = match.group(3)
        plain = ShellLexer("\\", skip_unset_env=True)
        names = plain.process(rest, {})[1]  # ShellLexError propagates: a fatal parse error
        if len(names) != 1:
            continue
        found.append((names[0], match.group(2) == "-"))
    return found


@dataclass
class ParsedDockerfile:
    nodes: list[Node]
    escape: str
    fatal: list[ScanError]
    syntax: tuple[str, int] | None  # the ``syntax`` directive's value and line


def parse_lines(text: str, path: str) -> ParsedDockerfile:
    """Split ``text`` into instruction nodes, with the escape token, directives and errors."""
    lines = text.split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    escape = "\\"
    continuation = _CONTINUATION[escape]
    directives_done = False
    seen: set[str] = set()
    nodes: list[Node] = []
    syntax: tuple[str, int] | None = None
    n = len(lines)
    i = 0

    def directive(token: str, lineno: int) -> None:
        nonlocal directives_done, escape, continuation, syntax
        if directives_done:
            return
        match = _DIRECTIVE_RE.match(token)
        if not match or match.group(1).lower() not in _VALID_DIRECTIVES:
            directives_done = True
            return
        key = match.group(1).lower()
        if key in seen:
            raise _ParseFailure(lineno, f"only one {key} parser directive can be used")
        seen.add(key)
        if key == "syntax":
            syntax = (match.group(2), lineno)
        if key == "escape":
            value = match.group(2)
            if value not in ("`", "\\"):
                raise _ParseFailure(
                    lineno, f"invalid escape token '{value}' does not match ` or \\"
                )
            escape = value
            continuation = _CONTINUATION[value]

    def trim_continuation(chunk: str) -> tuple[str, bool]:
        match = continuation.search(chunk)
        if match is None:
            return chunk, True
        return chunk[: match.start()] + (match.group(1) or ""), False

    try:
        while i < n:
            token = lines[i].rstrip("\r\n").lstrip()
            directive(token, i + 1)
            if token.startswith("#"):
                token = ""
            i += 1
            start = i
            line, end_of_line = trim_continuation(token)
            if end_of_line and line == "":
                continue
            while not end_of_line and i < n:
                raw = lines[i]
                chunk = raw.rstrip("\r\n")
                directive(chunk, i + 1)
                i += 1
                # Comment lines and blank lines inside a continuation are dropped.
                if _is_comment(raw) or not chunk.strip():
                    continue
                more, end_of_line = trim_continuation(chunk)
                line += more
            node = _make_node(line, start, escape)
            target = node.sub if node.cmd == "onbuild" and node.sub else node
            if target.cmd in _HEREDOC_CAPABLE and not target.is_json and "<<" in line:
                try:
                    heredocs = _heredoc_names(line)
                except ShellLexError as exc:
                    raise _ParseFailure(start, str(exc)) from None
                for name, chomp in heredocs:
                    terminated = False
                    # Heredoc bodies are content, never instructions or directives.
                    while i < n:
                        candidate = lines[i].rstrip("\r\n")
                        i += 1
                        if chomp:
                            candidate = candidate.lstrip("\t")
                        if candidate == name:
                            terminated = True
                            break
                    if not terminated:
                        raise _ParseFailure(start, "unterminated heredoc")
            nodes.append(node)
    except _ParseFailure as exc:
        return ParsedDockerfile(nodes, escape, [ScanError(path, exc.line, exc.message)], syntax)
    return ParsedDockerfile(nodes, escape, [], syntax)


# --------------------------------------------------------------------------------------
# The frontend: a port of parser.DetectSyntax, which decides what BuildKit pulls first.
# --------------------------------------------------------------------------------------

_DIRECTIVE_BODY = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")


def _scan_directives(lines: list[str], prefix: str, offset: int) -> tuple[str, int] | None:
    """The ``syntax`` directive among leading ``PREFIX key=value`` lines, with its line."""
    seen: set[str] = set()
    for index, raw in enumerate(lines):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.startswith(prefix):
            return None
        match = _DIRECTIVE_BODY.match(line[len(prefix) :].lstrip())
        if match is None:
            return None
        key = match.group(1).lower()
        if key not in _VALID_DIRECTIVES or key in seen:
            return None
        seen.add(key)
        if key == "syntax":
            return match.group(2), offset + index + 1
    return None


def detect_syntax(text: str) -> tuple[str, int] | None:
    """The frontend BuildKit forwards to, and its line, however the file names it.

    Like BuildKit: a byte-order mark and a first line starting with ``#!`` are skipped, then
    ``# syntax=`` directives, then ``// syntax=`` ones, then a JSON document's ``"syntax"``.
    """
    data = text[1:] if text.startswith("\ufeff") else text
    offset = 0
    if data.startswith("#!"):
        _, _, data = data.partition("\n")
        offset = 1
    lines = data.split("\n")
    for prefix in ("#", "//"):
        found = _scan_directives(lines, prefix, offset)
        if found is not None:
            return found
    if data.lstrip().startswith("{"):
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if isinstance(document, dict) and isinstance(document.get("syntax"), str):
            return document["syntax"], offset + 1
    return None
