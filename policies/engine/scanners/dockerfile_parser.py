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


# The phases of the word splitters below, as BuildKit's state machines name them; the flag
# splitter also ends at a lone "--".
_SPACES, _WORD, _QUOTE, _END_OF_FLAGS = 0, 1, 2, 3


def _extract_flags_slow(line: str) -> tuple[str, list[str]]:
    return _FlagWords(line).split()


class _FlagWords:
    """extractBuilderFlags' state machine: ``--flag`` words, quotes and escapes removed."""

    def __init__(self, line: str) -> None:
        self.line, self.n = line, len(line)
        self.pos = 0
        self.words: list[str] = []
        self.word: list[str] = []
        self.quote = ""
        self.blank_ok = False

    def split(self) -> tuple[str, list[str]]:
        """``(rest of the line, flag words)``: the words end at the first that is no flag."""
        phase = _SPACES
        while self.pos < self.n:
            ch = self.line[self.pos]
            if phase == _SPACES:
                if is_go_space(ch):
                    self.pos += 1
                    continue
                if not self.line.startswith("--", self.pos):
                    return self.line[self.pos :], self.words
                phase = _WORD
            phase = self._in_word(ch) if phase == _WORD else self._in_quote(ch)
            if phase == _END_OF_FLAGS:
                return self.line[self.pos :], self.words
        if phase != _SPACES:
            text = "".join(self.word)
            if text != "--" and (self.blank_ok or text):
                self.words.append(text)
        return "", self.words

    def _in_word(self, ch: str) -> int:
        if is_go_space(ch):
            text = "".join(self.word)
            if text == "--":
                return _END_OF_FLAGS
            if self.blank_ok or text:
                self.words.append(text)
            self.word = []
            self.blank_ok = False
            self.pos += 1
            return _SPACES
        if ch in ("'", '"'):
            self.quote = ch
            self.blank_ok = True
            self.pos += 1
            return _QUOTE
        if ch == "\\":
            if self.pos + 1 == self.n:
                self.pos += 1
                return _WORD
            self.pos += 1
            ch = self.line[self.pos]
        self.word.append(ch)
        self.pos += 1
        return _WORD

    def _in_quote(self, ch: str) -> int:
        if ch == self.quote:
            self.pos += 1
            return _WORD
        if ch == "\\":
            self.pos += 1
            if self.pos == self.n:
                return _WORD
            ch = self.line[self.pos]
        self.word.append(ch)
        self.pos += 1
        return _QUOTE


def parse_words(rest: str, escape: str) -> list[str]:
    """Quote-aware word split that keeps the quotes (parser.parseWords, used by ARG/ENV)."""
    if "'" not in rest and '"' not in rest and escape not in rest:
        return [word for word in _GO_WS_SPLIT.split(rest) if word]  # nothing to keep together
    return _Words(rest, escape).split()


class _Words:
    """parseWords' state machine: words split on blanks, quotes and escapes kept."""

    def __init__(self, rest: str, escape: str) -> None:
        self.rest, self.n, self.escape = rest, len(rest), escape
        self.pos = 0
        self.words: list[str] = []
        self.buf: list[str] = []
        self.quote = ""
        self.blank_ok = False

    def split(self) -> list[str]:
        phase = _SPACES
        while self.pos < self.n:
            ch = self.rest[self.pos]
            if phase == _SPACES:
                if is_go_space(ch):
                    self.pos += 1
                    continue
                phase = _WORD
            phase = self._in_word(ch) if phase == _WORD else self._in_quote(ch)
        if phase != _SPACES and (self.blank_ok or self.buf):
            self.words.append("".join(self.buf))
        return self.words

    def _in_word(self, ch: str) -> int:
        if is_go_space(ch):
            if self.blank_ok or self.buf:
                self.words.append("".join(self.buf))
            self.buf = []
            self.blank_ok = False
            self.pos += 1
            return _SPACES
        phase = _WORD
        if ch in ("'", '"'):
            self.quote = ch
            self.blank_ok = True
            phase = _QUOTE
        if ch == self.escape:
            self.pos += 1
            if self.pos == self.n:
                return phase
            self.buf.append(ch)
            ch = self.rest[self.pos]
        self.buf.append(ch)
        self.pos += 1
        return phase

    def _in_quote(self, ch: str) -> int:
        phase = _WORD if ch == self.quote else _QUOTE
        if ch == self.escape and self.quote != "'":
            self.pos += 1
            if self.pos == self.n:
                return _WORD
            self.buf.append(ch)
            ch = self.rest[self.pos]
        self.buf.append(ch)
        self.pos += 1
        return phase


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


class _LineReader:
    """Physical lines in, logical lines out, as parser.Parse reads them.

    Applies the parser directives met on the way (``escape`` changes the continuation
    character from then on), joins continued lines (dropping comment and blank lines inside
    a continuation) and skips heredoc bodies, which are content, never instructions.
    """

    def __init__(self, text: str) -> None:
        lines = text.split("\n")
        if lines and lines[0].startswith("\ufeff"):
            lines[0] = lines[0][1:]
        self.lines = lines
        self.i = 0
        self.escape = "\\"
        self.continuation = _CONTINUATION[self.escape]
        self.directives_done = False
        self.seen: set[str] = set()
        self.syntax: tuple[str, int] | None = None

    def directive(self, token: str, lineno: int) -> None:
        if self.directives_done:
            return
        match = _DIRECTIVE_RE.match(token)
        if not match or match.group(1).lower() not in _VALID_DIRECTIVES:
            self.directives_done = True
            return
        key = match.group(1).lower()
        if key in self.seen:
            raise _ParseFailure(lineno, f"only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "syntax":
            self.syntax = (match.group(2), lineno)
        if key == "escape":
            value = match.group(2)
            if value not in ("`", "\\"):
                raise _ParseFailure(
                    lineno, f"invalid escape token '{value}' does not match ` or \\"
                )
            self.escape = value
            self.continuation = _CONTINUATION[value]

    def trim_continuation(self, chunk: str) -> tuple[str, bool]:
        match = self.continuation.search(chunk)
        if match is None:
            return chunk, True
        return chunk[: match.start()] + (match.group(1) or ""), False

    def next_line(self) -> tuple[str, int] | None:
        """The next logical line and the number of its first line; ``None`` at the end."""
        lines, n = self.lines, len(self.lines)
        while self.i < n:
            token = lines[self.i].rstrip("\r\n").lstrip()
            self.directive(token, self.i + 1)
            if token.startswith("#"):
                token = ""
            self.i += 1
            start = self.i
            line, end_of_line = self.trim_continuation(token)
            if end_of_line and line == "":
                continue
            while not end_of_line and self.i < n:
                raw = lines[self.i]
                chunk = raw.rstrip("\r\n")
                self.directive(chunk, self.i + 1)
                self.i += 1
                # Comment lines and blank lines inside a continuation are dropped.
                if _is_comment(raw) or not chunk.strip():
                    continue
                more, end_of_line = self.trim_continuation(chunk)
                line += more
            return line, start
        return None

    def skip_heredocs(self, node: Node, line: str, start: int) -> None:
        """Skip the bodies of the heredocs ``line`` opens, up to each terminator."""
        target = node.sub if node.cmd == "onbuild" and node.sub else node
        if target.cmd not in _HEREDOC_CAPABLE or target.is_json or "<<" not in line:
            return
        try:
            heredocs = _heredoc_names(line)
        except ShellLexError as exc:
            raise _ParseFailure(start, str(exc)) from None
        for name, chomp in heredocs:
            if not self._skip_to(name, chomp=chomp):
                raise _ParseFailure(start, "unterminated heredoc")

    def _skip_to(self, name: str, *, chomp: bool) -> bool:
        while self.i < len(self.lines):
            candidate = self.lines[self.i].rstrip("\r\n")
            self.i += 1
            if chomp:
                candidate = candidate.lstrip("\t")
            if candidate == name:
                return True
        return False


def parse_lines(text: str, path: str) -> ParsedDockerfile:
    """Split ``text`` into instruction nodes, with the escape token, directives and errors."""
    reader = _LineReader(text)
    nodes: list[Node] = []
    fatal: list[ScanError] = []
    try:
        while (logical := reader.next_line()) is not None:
            line, start = logical
            node = _make_node(line, start, reader.escape)
            reader.skip_heredocs(node, line, start)
            nodes.append(node)
    except _ParseFailure as exc:
        fatal.append(ScanError(path, exc.line, exc.message))
    return ParsedDockerfile(nodes, reader.escape, fatal, reader.syntax)


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
