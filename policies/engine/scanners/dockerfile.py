"""Find every image a Dockerfile pulls, following BuildKit's own parsing rules.

The scanner is a faithful, dependency-free re-implementation of the parts of BuildKit's
Dockerfile frontend that decide *which images get pulled*:

* the line parser (``frontend/dockerfile/parser``): parser directives, escape tokens, line
  continuations (with comments and blank lines inside them), heredocs, flags;
* the shell word lexer (``frontend/dockerfile/shell``) used to expand global ``ARG``\\ s in
  ``FROM``;
* the stage graph (``dockerfile2llb``): stage names, ``COPY --from``, ``RUN --mount=from=``,
  stage indexes, ``scratch`` and circular dependencies.

Anything BuildKit would reject is reported as a :class:`ScanError` carrying the file and the
1-based line of the instruction, never silently guessed around. Every stage is scanned, not
only those reachable from the default target, because any stage can be built with
``--target`` and CI must approve all of them.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from policies.engine.reference import InvalidReference, parse_docker_ref

__all__ = [
    "ImageKind",
    "ImageUse",
    "ScanError",
    "ScanResult",
    "ShellLexError",
    "detect_syntax",
    "expand_word",
    "platform_args",
    "scan_dockerfile",
    "validate_reference",
]

ImageKind = Literal["syntax", "from", "copy-from", "mount-from", "compose", "cache-from"]


@dataclass(frozen=True)
class ImageUse:
    """One place where an image is pulled: the image as written (after expansion)."""

    image: str
    file: str
    line: int
    kind: ImageKind


@dataclass(frozen=True)
class ScanError:
    """Something BuildKit or Compose would reject; ``line`` is 1-based, ``None`` if unknown."""

    file: str
    line: int | None
    message: str


@dataclass
class ScanResult:
    """Images found and errors met while scanning one or more files."""

    images: list[ImageUse] = field(default_factory=list)
    errors: list[ScanError] = field(default_factory=list)

    def extend(self, other: ScanResult) -> None:
        """Append another result's images and errors to this one."""
        self.images.extend(other.images)
        self.errors.extend(other.errors)

    @property
    def ok(self) -> bool:
        """True when no error was found."""
        return not self.errors


def validate_reference(image: str) -> str | None:
    """Return the reference parser's error message for ``image``, or ``None`` if it is valid."""
    try:
        parse_docker_ref(image)
    except InvalidReference as exc:
        return str(exc) or f"invalid reference format: {image!r}"
    return None


# --------------------------------------------------------------------------------------
# Shell word lexer: a port of BuildKit's frontend/dockerfile/shell/lex.go.
# --------------------------------------------------------------------------------------


class ShellLexError(ValueError):
    """A word BuildKit's shell lexer rejects (bad substitution, unterminated quote...)."""


# Go's unicode.IsSpace differs from str.isspace only on the ASCII file/group/record/unit
# separators, which Python counts as whitespace and Go does not.
_NOT_GO_SPACE = frozenset("\x1c\x1d\x1e\x1f")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


def _is_space(ch: str) -> bool:
    return ch.isspace() and ch not in _NOT_GO_SPACE


class _Words:
    """Accumulates the whitespace-separated words of a processed string (wordsStruct)."""

    __slots__ = ("in_word", "word", "words")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def get(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Lexer:
    """Shell-like word processing with BuildKit's exact expansion rules."""

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset_env: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self._s = ""
        self._n = 0
        self._pos = 0
        self._env: Mapping[str, str] = {}
        self._cur_raw_escapes = raw_escapes

    def process(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        """Expand ``word``; return the expanded string and its word split."""
        self._s, self._n, self._pos, self._env = word, len(word), 0, env
        self._cur_raw_escapes = self.raw_escapes
        try:
            return self._stop_on(None, self.raw_escapes)
        except ShellLexError as exc:
            raise ShellLexError(f"failed to process {_go_quote(word)}: {exc}") from None

    def _peek(self) -> str | None:
        return self._s[self._pos] if self._pos < self._n else None

    def _next(self) -> str | None:
        if self._pos < self._n:
            ch = self._s[self._pos]
            self._pos += 1
            return ch
        return None

    def _stop_on(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        saved = self._cur_raw_escapes
        self._cur_raw_escapes = raw_escapes
        try:
            while self._pos < self._n:
                ch = self._s[self._pos]
                if stop is not None and ch == stop:
                    self._pos += 1
                    return "".join(result), words.get()
                if ch == "$":
                    tmp = self._dollar()
                    result.append(tmp)
                    words.add_string(tmp)
                elif ch == "'":
                    tmp = self._single_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                elif ch == '"':
                    tmp = self._double_quote()
                    result.append(tmp)
                    words.add_raw_string(tmp)
                else:
                    self._pos += 1
                    if ch == self.escape:
                        if self._cur_raw_escapes:
                            words.add_raw_char(ch)
                            result.append(ch)
                        nxt = self._next()
                        if nxt is None:
                            break
                        ch = nxt
                        words.add_raw_char(ch)
                    else:
                        words.add_char(ch)
                    result.append(ch)
            if stop is not None:
                raise ShellLexError(
                    f"unexpected end of statement while looking for matching {stop}"
                )
            return "".join(result), words.get()
        finally:
            self._cur_raw_escapes = saved

    def _single_quote(self) -> str:
        # Everything up to the next single quote is literal; it cannot be escaped.
        out: list[str] = []
        ch = self._next()
        if self.raw_quotes and ch is not None:
            out.append(ch)
        while True:
            ch = self._next()
            if ch is None:
                raise ShellLexError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        # Literal except for $ expansion; the escape token only escapes " $ and itself.
        out: list[str] = []
        ch = self._next()
        if self.raw_quotes and ch is not None:
            out.append(ch)
        while True:
            peek = self._peek()
            if peek is None:
                raise ShellLexError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if peek == '"':
                self._pos += 1
                if self.raw_quotes:
                    out.append(peek)
                return "".join(out)
            if peek == "$":
                out.append(self._dollar())
                continue
            ch = self._s[self._pos]
            self._pos += 1
            if ch == self.escape:
                if self._cur_raw_escapes:
                    out.append(ch)
                nxt = self._peek()
                if nxt is None:
                    continue  # the loop then reports the missing closing quote
                if nxt in ('"', "$", self.escape):
                    ch = nxt
                    self._pos += 1
            out.append(ch)

    def _name(self) -> str:
        s, i, n = self._s, self._pos, self._n
        if i < n and s[i].isdecimal():
            j = i
            while j < n and s[j].isdecimal():
                j += 1
            self._pos = j
            return s[i:j]
        if i < n and s[i] in _SPECIAL_PARAMS:
            self._pos = i + 1
            return s[i]
        j = i
        while j < n and (s[j].isalpha() or s[j].isdecimal() or s[j] == "_"):
            j += 1
        self._pos = j
        return s[i:j]

    def _get(self, name: str) -> tuple[str, bool]:
        value = self._env.get(name)
        return ("", False) if value is None else (value, True)

    def _dollar(self) -> str:
        self._pos += 1  # the '$'
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._get(name)
            if not found and self.skip_unset_env:
                return "$" + name
            return value

        self._pos += 1  # the '{'
        peek = self._peek()
        if peek is None:
            raise ShellLexError("syntax error: missing '}'")
        if peek in "{}:":
            raise ShellLexError("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        if ch is None:
            raise ShellLexError("syntax error: missing '}'")
        if ch == "}":
            value, found = self._get(name)
            if not found and self.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._replace(name)

        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            nxt = self._next()
            ch = nxt if nxt is not None else ""
            modifier += ch
        if ch not in ("+", "-", "?", "#", "%") and not null_is_unset:
            raise ShellLexError(f"unsupported modifier ({modifier}) in substitution")

        try:
            word, _ = self._stop_on("}", ch in ("#", "%"))
        except ShellLexError:
            if self._peek() is None:
                raise ShellLexError("syntax error: missing '}'") from None
            raise
        value, found = self._get(name)
        if self.skip_unset_env and not found:
            return "${" + name + modifier + word + "}"

        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise ShellLexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellLexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = bool(word) and word[0] == ch
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise ShellLexError(f"unsupported modifier ({modifier}) in substitution")

    def _replace(self, name: str) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self._pos += 1
        try:
            pattern, _ = self._stop_on("/", True)
        except ShellLexError:
            if self._peek() is None:
                raise ShellLexError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self._stop_on("}", True)
        except ShellLexError:
            if self._peek() is None:
                raise ShellLexError("syntax error: missing '}'") from None
            raise
        value, found = self._get(name)
        if self.skip_unset_env and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _shell_pattern(pattern, greedy=True, anchored=False)
        # A function replacement keeps the text literal (no backslash-group expansion).
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        return regex.sub(lambda _m: replacement, value, count=1)


def _go_quote(text: str) -> str:
    """Approximate Go's %q, which error messages use to show the offending word."""
    return json.dumps(text, ensure_ascii=False)


def _shell_pattern(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Translate a ``${var#pattern}``-style glob (``*``, ``?``, ``\\``) into a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i, n = 0, len(pattern)
    while i < n:
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            # An escaped } or / belongs to the ${} syntax, not to the pattern.
            if i < n and pattern[i] in "}/":
                continue
            nxt = pattern[i] if i < n else ""
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ShellLexError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'"
                )
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _shell_pattern(pattern, greedy=greedy, anchored=True).match(value)
    return value[match.end() :] if match else value


def _reverse_pattern(pattern: str) -> str:
    # Reverse while keeping each escape in front of the character it escapes.
    chars = list(pattern)
    out = [""] * len(chars)
    last = len(chars) - 1
    i = 0
    while i <= last:
        tok = chars[i]
        out_idx = last - i
        if tok == "\\" and i != last:
            out[out_idx - 1] = tok
            out[out_idx] = chars[i + 1]
            i += 2
        else:
            out[out_idx] = tok
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # Regexes find leftmost matches only, so reverse both sides to find the rightmost one.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


_PLAIN_WORD = re.compile(r"[^$'\"\\`]*")


def expand_word(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expand variables and quotes in ``word`` exactly as BuildKit's ProcessWord does.

    Raises :class:`ShellLexError` with BuildKit's message on malformed input.
    """
    if _PLAIN_WORD.fullmatch(word):
        return word  # fast path: nothing to expand
    return _Lexer(escape).process(word, env)[0]


# --------------------------------------------------------------------------------------
# Line parser: a port of frontend/dockerfile/parser/parser.go.
# --------------------------------------------------------------------------------------

_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_TOKEN_WS = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_RE = re.compile(r"(\d*)<<(-?)\s*([^<]*)")
_HEREDOC_OPERATOR = re.compile(r"\d*<<-?")
_CONTINUATION = {
    "\\": re.compile(r"([^\\])\\[ \t]*\Z|^\\[ \t]*\Z"),
    "`": re.compile(r"([^`])`[ \t]*\Z|^`[ \t]*\Z"),
}
_INSTRUCTIONS = frozenset(
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
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_INDEX_RE = re.compile(r"[+-]?[0-9]+")
_VAR_RE = re.compile(r"\$.")


class _ParseFailure(Exception):
    """A fatal parser error: BuildKit stops reading the file at this point."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class _Node:
    """One instruction as the line parser produced it."""

    cmd: str  # lower-cased instruction keyword
    flags: list[str]
    rest: str  # arguments after flags, trimmed
    line: int
    is_json: bool = False
    error: str | None = None
    sub: _Node | None = None  # ONBUILD's trigger instruction
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
            if _is_space(ch):
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
            if _is_space(ch):
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


def _parse_words(rest: str, escape: str) -> list[str]:
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
            if _is_space(ch):
                pos += 1
                continue
            phase = in_word
        if phase in (in_word, in_quote) and pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == in_word:
            if _is_space(ch):
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


def _make_node(line: str, lineno: int, escape: str) -> _Node:
    parts = _TOKEN_WS.split(line.strip(), maxsplit=1)
    cmd = parts[0].lower()
    flags: list[str] = []
    rest = ""
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1])
        rest = rest.strip()
    node = _Node(cmd=cmd, flags=flags, rest=rest, line=lineno)
    if cmd in _JSON_CAPABLE:
        node.is_json, node.error = _json_args(rest)
    elif cmd == "healthcheck":
        kind_and_cmd = _TOKEN_WS.split(rest, maxsplit=1)
        if len(kind_and_cmd) == 2:
            node.is_json, node.error = _json_args(kind_and_cmd[1])
    elif cmd in ("env", "label"):
        node.words = _parse_words(rest, escape)
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
        if len(_TOKEN_WS.split(rest, maxsplit=1)) < 2:
            return f"{key} must have two arguments"
        return None
    for word in words:
        if "=" not in word:
            return (
                f"Syntax error - can't find = in {_go_quote(word)}. Must be of the form: name=value"
            )
    if any(word.startswith("=") for word in words):
        return f"{key} names can not be blank"
    return None


def _heredoc_names(line: str) -> list[tuple[str, bool]]:
    """Heredoc terminators (name, chomp) opened on ``line`` (parser.heredocsFromLine)."""
    lexer = _Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
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
        plain = _Lexer("\\", skip_unset_env=True)
        names = plain.process(rest, {})[1]  # ShellLexError propagates: a fatal parse error
        if len(names) != 1:
            continue
        found.append((names[0], match.group(2) == "-"))
    return found


@dataclass
class _Parsed:
    nodes: list[_Node]
    escape: str
    fatal: list[ScanError]
    syntax: tuple[str, int] | None  # the ``syntax`` directive's value and line


def _parse_lines(text: str, path: str) -> _Parsed:
    """Split ``text`` into instruction nodes, with the escape token, directives and errors."""
    lines = text.split("\n")
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    escape = "\\"
    continuation = _CONTINUATION[escape]
    directives_done = False
    seen: set[str] = set()
    nodes: list[_Node] = []
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
        return _Parsed(nodes, escape, [ScanError(path, exc.line, exc.message)], syntax)
    return _Parsed(nodes, escape, [], syntax)


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


# --------------------------------------------------------------------------------------
# Instruction checks: a port of instructions.Parse and BFlags, so that every instruction
# BuildKit refuses is an error here too.
# --------------------------------------------------------------------------------------

# Flags each instruction accepts (stable and labs frontends): s string, b boolean,
# m repeatable string. ARG and STOPSIGNAL never parse flags; the others refuse any flag.
_FLAGS: dict[str, dict[str, str]] = {
    "add": {
        "chown": "s",
        "chmod": "s",
        "link": "b",
        "keep-git-dir": "b",
        "checksum": "s",
        "unpack": "b",
        "exclude": "m",
    },
    "copy": {"chown": "s", "from": "s", "chmod": "s", "link": "b", "exclude": "m", "parents": "b"},
    "from": {"platform": "s"},
    "run": {"mount": "m", "network": "s", "security": "s", "device": "m"},
    "healthcheck": {
        "interval": "s",
        "timeout": "s",
        "start-period": "s",
        "start-interval": "s",
        "retries": "s",
    },
}
_FLAGS_UNPARSED = frozenset({"arg", "stopsignal"})
_EXACTLY_ONE = frozenset({"maintainer", "workdir", "user", "stopsignal"})
_AT_LEAST_ONE = frozenset({"env", "label", "expose", "volume"})


def _check_flags(cmd: str, flags: list[str]) -> str | None:
    """BFlags.Parse's verdict on an instruction's flags."""
    if cmd in _FLAGS_UNPARSED:
        return None
    allowed = _FLAGS.get(cmd, {})
    used: set[str] = set()
    for flag in flags:
        if flag == "--":
            return None
        if not flag.startswith("--"):
            return f"arg should start with -- : {flag}"
        name, sep, value = flag[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            return f"unknown flag: --{name}"
        if name in used and kind != "m":
            return f"duplicate flag specified: --{name}"
        used.add(name)
        if kind == "b":
            if sep and value == "":
                return f"missing a value on flag: --{name}"
            if value.lower() not in ("true", "", "false"):
                return f"expecting boolean value for flag --{name}, not: {value}"
        elif not sep:
            return f"missing a value on flag: --{name}"
    return None


class _AnyValue(dict[str, str]):
    """Every variable set: expansion then fails only on syntax, as for any stage's values."""

    def get(self, key: str, default: object = None) -> str:
        return "x"


_ANY_VALUE = _AnyValue()


def _expansion_error(words: Iterable[str], escape: str) -> str | None:
    for word in words:
        if "'" not in word and '"' not in word and "${" not in word:
            continue  # only a quote or a braced expansion can fail to lex
        try:
            expand_word(word, _ANY_VALUE, escape)
        except ShellLexError as exc:
            return str(exc)
    return None


def _words_expanded(node: _Node, escape: str) -> list[str]:
    """The words BuildKit expands with its shell lexer when it dispatches ``node``."""
    cmd, rest = node.cmd, node.rest
    if cmd in ("env", "label"):
        words = node.words if node.words is not None else _parse_words(rest, escape)
        if words and "=" not in words[0]:
            return [words[0], rest[len(words[0]) :].strip()]
        out: list[str] = []
        for word in words:
            key, _, value = word.partition("=")
            out += [key, value]
        return out
    if cmd in ("workdir", "user", "stopsignal"):
        return [rest]
    if cmd == "arg":
        return [word.partition("=")[2] for word in _parse_words(rest, escape) if "=" in word]
    if cmd in ("expose", "volume", "copy", "add") and not node.is_json:
        words = [word for word in _TOKEN_WS.split(rest) if word]
        if cmd in ("copy", "add"):
            words += [
                flag.partition("=")[2]
                for flag in node.flags
                if flag.startswith(("--chown=", "--chmod="))
            ]
        return words
    return []


def _check_healthcheck(node: _Node) -> str | None:
    parts = _TOKEN_WS.split(node.rest, maxsplit=1) if node.rest else []
    if not parts:
        return "HEALTHCHECK requires at least one argument"
    kind = parts[0].upper()
    args = parts[1].strip() if len(parts) > 1 else ""
    if kind == "NONE":
        return "HEALTHCHECK NONE takes no arguments" if args else None
    problem = _check_flags("healthcheck", node.flags)
    if problem:
        return problem
    if kind != "CMD":
        return f"Unknown type {_go_quote(kind)} in HEALTHCHECK (try CMD)"
    if not args or (node.is_json and args.replace(" ", "") == "[]"):
        return "Missing command after HEALTHCHECK CMD"
    return None


def _check_instruction(node: _Node, escape: str) -> str | None:
    """The error BuildKit gives for ``node`` before any stage logic, or ``None``."""
    cmd = node.cmd
    if cmd == "healthcheck":
        return _check_healthcheck(node)
    if cmd in _EXACTLY_ONE and not node.rest:
        return f"{cmd.upper()} requires exactly one argument"
    problem = _check_flags(cmd, node.flags)
    if problem:
        return problem
    if cmd in _AT_LEAST_ONE and not node.rest:
        return f"{cmd.upper()} requires at least one argument"
    if cmd == "shell":
        if not node.is_json:
            return "SHELL requires the arguments to be in JSON form"
        if node.rest.replace(" ", "") == "[]":
            return "SHELL requires at least one argument"
    if cmd == "volume" and node.is_json and '""' in node.rest:
        try:
            if "" in json.loads(node.rest):
                return "VOLUME specified can not be an empty string"
        except ValueError:
            pass
    return _expansion_error(_words_expanded(node, escape), escape)


# A port of containerd's platforms.Parse: `os[(version)][/arch[/variant]]`.
_PLATFORM_OS = re.compile(r"[A-Za-z0-9_-]+(?:\([A-Za-z0-9_.]*(?:\+[A-Za-z0-9_.]+)*\))?")
_PLATFORM_PART = re.compile(r"[A-Za-z0-9_-]+")
_KNOWN_OS = frozenset(
    [
        "aix",
        "android",
        "darwin",
        "dragonfly",
        "freebsd",
        "hurd",
        "illumos",
        "ios",
        "js",
        "linux",
        "nacl",
        "netbsd",
        "openbsd",
        "plan9",
        "solaris",
        "wasip1",
        "windows",
        "zos",
        "macos",
    ]
)
_KNOWN_ARCH = frozenset(
    [
        "386",
        "amd64",
        "amd64p32",
        "arm",
        "armbe",
        "arm64",
        "arm64be",
        "loong64",
        "mips",
        "mipsle",
        "mips64",
        "mips64le",
        "mips64p32",
        "mips64p32le",
        "ppc",
        "ppc64",
        "ppc64le",
        "riscv",
        "riscv64",
        "s390",
        "s390x",
        "sparc",
        "sparc64",
        "wasm",
        "i386",
        "x86_64",
        "x86-64",
        "aarch64",
        "armhf",
        "armel",
    ]
)


def _platform_valid(value: str) -> bool:
    """Whether containerd's ``platforms.Parse`` accepts ``value``."""
    parts = value.split("/")
    if "*" in value or len(parts) > 3 or not _PLATFORM_OS.fullmatch(parts[0]):
        return False
    if not all(_PLATFORM_PART.fullmatch(part) for part in parts[1:]):
        return False
    if len(parts) == 1:
        name = parts[0].split("(", 1)[0].lower()
        return name in _KNOWN_OS or name in _KNOWN_ARCH
    return True


# --------------------------------------------------------------------------------------
# Stage graph: what dockerfile2llb does with the parsed instructions.
# --------------------------------------------------------------------------------------


def platform_args(platform: str) -> dict[str, str]:
    """The automatic platform ARGs BuildKit defines, for both build and target platform.

    The scanner cannot know the builder's own platform, so BUILD* mirror TARGET*.
    """
    parts = platform.split("/")
    os_name = parts[0] if parts else ""
    arch = parts[1] if len(parts) > 1 else ""
    variant = parts[2] if len(parts) > 2 else ""
    args: dict[str, str] = {}
    for prefix in ("BUILD", "TARGET"):
        args[f"{prefix}PLATFORM"] = platform
        args[f"{prefix}OS"] = os_name
        args[f"{prefix}ARCH"] = arch
        args[f"{prefix}VARIANT"] = variant
    return args


@dataclass
class _Stage:
    name: str  # lower-cased, "" if unnamed
    line: int
    index: int
    base_stage: int | None = None
    deps: list[tuple[int, int]] = field(default_factory=list)  # (stage index, line)
    # Uses of a stage defined later: BuildKit refuses them unless a cycle is found first.
    too_early: list[tuple[int, str]] = field(default_factory=list)  # (line, message)


def _flag_values(flags: Iterable[str], name: str) -> tuple[list[str], str | None]:
    """Values of ``--name=value`` flags; error text if one is given without a value."""
    values: list[str] = []
    prefix = "--" + name
    for flag in flags:
        if flag == prefix:
            return values, f"missing a value on flag: {name}"
        if flag.startswith(prefix + "="):
            values.append(flag[len(prefix) + 1 :])
    return values, None


def _mount_sources(value: str) -> tuple[str | None, str | None]:
    """The ``from=`` of one ``--mount`` value; returns (from, error)."""
    if value == "":
        return None, "failed to parse csv mounts: EOF"
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as exc:
        return None, f"failed to parse csv mounts: {exc}"
    source: str | None = None
    for item in fields:
        key, sep, val = item.partition("=")
        if not sep or key.lower() != "from":
            continue
        if _VAR_RE.search(val):
            return None, "'from' doesn't support variable expansion, define alias stage instead"
        source = val
    return source or None, None


def _mount_target(value: str) -> str:
    """The ``target=`` (or ``dst=``, ``destination=``) of one ``--mount`` value."""
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration):
        return ""
    for item in fields:
        key, _, val = item.partition("=")
        if key.lower() in ("target", "dst", "destination"):
            return val
    return ""


def scan_dockerfile(
    text: str,
    *,
    path: str = "Dockerfile",
    build_args: Mapping[str, str] | None = None,
    platform: str = "linux/amd64",
) -> ScanResult:
    """Scan Dockerfile ``text`` and return every image it pulls plus BuildKit's errors.

    ``build_args`` override global ``ARG`` defaults as ``--build-arg`` does; ``platform``
    (``os/arch[/variant]``) defines the automatic ``TARGET*``/``BUILD*`` args. Images from
    every stage are reported. Never raises for any input text.
    """
    result = ScanResult()
    try:
        _scan(text, path, dict(build_args or {}), platform, result)
    except RecursionError:  # pathological nesting in JSON arguments, for instance
        result.errors.append(ScanError(path, None, "input too deeply nested to scan"))
    result.images.sort(key=lambda use: use.line)
    result.errors.sort(key=lambda err: err.line or 0)
    return result


def _scan(
    text: str, path: str, build_args: dict[str, str], platform: str, result: ScanResult
) -> None:
    parsed = _parse_lines(text, path)
    nodes, escape, fatal = parsed.nodes, parsed.escape, parsed.fatal
    errors = result.errors
    _report_frontend(detect_syntax(text) or parsed.syntax, path, build_args, result)
    errors.extend(fatal)
    if fatal:
        return
    if not nodes:
        errors.append(ScanError(path, None, "file with no instructions"))
        return

    # Global scope: automatic platform args (overridable), then ARGs before the first FROM.
    global_env = platform_args(platform)
    for key in global_env:
        if key in build_args:
            global_env[key] = build_args[key]

    stages: list[_Stage] = []
    by_name: dict[str, int] = {}
    pending: list[tuple[int, _Node]] = []  # COPY/RUN nodes with their stage index
    candidates: list[ImageUse] = []

    for node in nodes:
        if node.error:
            errors.append(ScanError(path, node.line, node.error))
            continue
        cmd = node.cmd
        if cmd not in _INSTRUCTIONS:
            errors.append(ScanError(path, node.line, f"unknown instruction: {cmd.upper()}"))
            continue
        problem = _check_instruction(node, escape)
        if problem:
            errors.append(ScanError(path, node.line, problem))
            if cmd != "from":
                continue  # a refused FROM still opens a stage, so later lines stay in place
        if cmd == "from":
            _handle_from(node, path, escape, global_env, stages, by_name, candidates, errors)
            continue
        if not stages:
            if cmd == "arg":
                _handle_global_arg(node, path, escape, build_args, global_env, errors)
            else:
                errors.append(ScanError(path, node.line, "no build stage in current context"))
            continue
        if cmd == "onbuild":
            _check_onbuild(node, path, errors)
            _onbuild_images(node, path, candidates)
        elif cmd in ("copy", "add") and len(_copy_args(node)) < 2:
            errors.append(
                ScanError(
                    path,
                    node.line,
                    f"{cmd.upper()} requires at least two arguments, but only one was "
                    "provided. Destination could not be determined.",
                )
            )
        elif cmd in ("copy", "run"):
            pending.append((len(stages) - 1, node))

    if not stages:
        errors.append(ScanError(path, None, "dockerfile contains no stages to build"))
        return

    # COPY --from and RUN --mount=from= see every stage, including later ones.
    for stage_index, node in pending:
        if node.cmd == "copy":
            _handle_copy_from(
                node, path, escape, global_env, stages, by_name, stage_index, candidates, errors
            )
        else:
            _handle_run_mounts(node, path, stages, by_name, stage_index, candidates, errors)

    cycle = _find_cycle(stages)
    if cycle is not None:
        stage, line = cycle
        label = stage.name or f"stage-{stage.index}"
        errors.append(ScanError(path, line, f"circular dependency detected on stage: {label}"))
    else:
        for stage in stages:
            errors.extend(ScanError(path, line, message) for line, message in stage.too_early)

    for use in candidates:
        problem = validate_reference(use.image)
        if problem is None:
            result.images.append(use)
        else:
            errors.append(ScanError(path, use.line, problem))


def _report_frontend(
    syntax: tuple[str, int] | None, path: str, build_args: Mapping[str, str], result: ScanResult
) -> None:
    """The frontend image BuildKit pulls before it reads the rest of the file.

    ``# syntax=IMAGE [options]`` names it (its first word); ``--build-arg BUILDKIT_SYNTAX=IMAGE``
    replaces it, with or without the directive (reported on line 1 then).
    """
    override = build_args.get("BUILDKIT_SYNTAX", "").strip()
    if override:
        image, line = override.split()[0], syntax[1] if syntax else 1
    elif syntax is not None:
        image, line = syntax[0].split()[0], syntax[1]
    else:
        return
    problem = validate_reference(image)
    if problem is None:
        result.images.append(ImageUse(image, path, line, "syntax"))
    else:
        result.errors.append(ScanError(path, line, f"syntax directive: {problem}"))


def _copy_args(node: _Node) -> list[str]:
    if node.is_json:
        try:
            value = json.loads(node.rest)
        except ValueError:
            return []
        return [item for item in value if isinstance(item, str)]
    return [word for word in _TOKEN_WS.split(node.rest) if word]


def _handle_global_arg(
    node: _Node,
    path: str,
    escape: str,
    build_args: Mapping[str, str],
    global_env: dict[str, str],
    errors: list[ScanError],
) -> None:
    words = _parse_words(node.rest, escape)
    if not words:
        errors.append(ScanError(path, node.line, "ARG requires at least one argument"))
        return
    for word in words:
        key, sep, value = word.partition("=")
        if not key:
            errors.append(ScanError(path, node.line, "ARG names can not be blank"))
            return
        if key in build_args:
            global_env[key] = build_args[key]  # --build-arg wins and is not expanded
        elif sep:
            try:
                global_env[key] = expand_word(value, global_env, escape)
            except ShellLexError as exc:
                errors.append(ScanError(path, node.line, str(exc)))
        # An ARG without a default and without a --build-arg stays unset.


def _handle_from(
    node: _Node,
    path: str,
    escape: str,
    global_env: Mapping[str, str],
    stages: list[_Stage],
    by_name: dict[str, int],
    candidates: list[ImageUse],
    errors: list[ScanError],
) -> None:
    args = [word for word in _TOKEN_WS.split(node.rest) if word] if node.rest else []
    index = len(stages)
    stage_name = ""
    if len(args) == 3 and args[1].lower() == "as":
        stage_name = args[2].lower()
        if not _STAGE_NAME.fullmatch(stage_name):
            errors.append(
                ScanError(
                    path,
                    node.line,
                    f"invalid name for build stage: {_go_quote(args[2])}, "
                    "name can't start with a number or contain symbols",
                )
            )
            stage_name = ""
    elif len(args) != 1:
        errors.append(ScanError(path, node.line, "FROM requires either one or three arguments"))
        # Keep the stage so later instructions still belong to a stage.
        stages.append(_Stage(name="", line=node.line, index=index))
        return

    platforms, _ = _flag_values(node.flags, "platform")  # a valueless flag is refused earlier
    for value in platforms:
        try:
            expanded = expand_word(value, global_env, escape)
        except ShellLexError as exc:
            errors.append(
                ScanError(path, node.line, f"failed to process arguments for platform: {exc}")
            )
            continue
        if expanded == "":
            errors.append(
                ScanError(path, node.line, f"empty platform value from expression {value}")
            )
        elif not _platform_valid(expanded):
            errors.append(
                ScanError(
                    path,
                    node.line,
                    f"failed to parse platform {value}: {_go_quote(expanded)}: "
                    "invalid platform specifier",
                )
            )

    stage = _Stage(name=stage_name, line=node.line, index=index)
    try:
        base = expand_word(args[0], global_env, escape)
    except ShellLexError as exc:
        errors.append(ScanError(path, node.line, str(exc)))
        base = None
    if base == "":
        errors.append(ScanError(path, node.line, f"base name ({args[0]}) should not be blank"))
    elif base is not None:
        # Only stages declared *earlier* can be a base: `FROM x AS x` pulls image x.
        earlier = by_name.get(base.lower())
        if earlier is not None:
            stage.base_stage = earlier
        elif base != "scratch":
            candidates.append(ImageUse(base, path, node.line, "from"))
    stages.append(stage)
    if stage_name:
        by_name[stage_name] = index


def _handle_copy_from(
    node: _Node,
    path: str,
    escape: str,
    global_env: Mapping[str, str],
    stages: list[_Stage],
    by_name: Mapping[str, int],
    stage_index: int,
    candidates: list[ImageUse],
    errors: list[ScanError],
) -> None:
    values, flag_error = _flag_values(node.flags, "from")
    if flag_error:
        errors.append(ScanError(path, node.line, flag_error))
        return
    if len(values) > 1:
        errors.append(ScanError(path, node.line, "Duplicate flag specified: from"))
        return
    if not values or values[0] == "":
        return
    source = values[0]
    try:
        expanded = expand_word(source, global_env, escape)
    except ShellLexError:
        expanded = None
    if expanded != source:
        errors.append(
            ScanError(
                path,
                node.line,
                "variable expansion is not supported for --from, define a new stage with "
                "FROM using ARG from global scope as a workaround",
            )
        )
        return
    stage = stages[stage_index]
    if _INDEX_RE.fullmatch(source):
        target: int | None = int(source)
        if target is not None and (target < 0 or target >= len(stages)):
            errors.append(ScanError(path, node.line, f"invalid stage index {target}"))
            return
    else:
        target = by_name.get(source.lower())
    if target is None:
        if source != "scratch":
            candidates.append(ImageUse(source, path, node.line, "copy-from"))
        return
    if target > stage_index:
        # BuildKit dispatches stages in file order: a later stage is not built yet.
        current = stage.name or f"stage-{stage.index}"
        stage.too_early.append(
            (
                node.line,
                f"cannot copy from stage {_go_quote(source)}, it needs to be defined before "
                f"current stage {_go_quote(current)}",
            )
        )
    stage.deps.append((target, node.line))


def _handle_run_mounts(
    node: _Node,
    path: str,
    stages: list[_Stage],
    by_name: Mapping[str, int],
    stage_index: int,
    candidates: list[ImageUse],
    errors: list[ScanError],
) -> None:
    values, flag_error = _flag_values(node.flags, "mount")
    if flag_error:
        errors.append(ScanError(path, node.line, flag_error))
        return
    stage = stages[stage_index]
    for value in values:
        source, problem = _mount_sources(value)
        if problem:
            errors.append(ScanError(path, node.line, problem))
            continue
        if source is None:
            continue
        # Mounts resolve names only (no numeric index), exactly like detectRunMount.
        named = by_name.get(source.lower())
        if named is not None and named > stage_index:
            stage.too_early.append(
                (
                    node.line,
                    f"cannot mount from stage {_go_quote(source)} to "
                    f"{_go_quote(_mount_target(value))}, stage needs to be defined before "
                    "current command",
                )
            )
        if named is not None:
            stage.deps.append((named, node.line))
        elif source != "scratch":
            candidates.append(ImageUse(source, path, node.line, "mount-from"))


def _onbuild_images(node: _Node, path: str, candidates: list[ImageUse]) -> None:
    """Images an ``ONBUILD`` trigger names: every build ``FROM`` this image pulls them.

    The child's stage names are unknown here, so any name but a stage index or ``scratch``
    counts as an image.
    """
    sub = node.sub
    if sub is None:
        return
    sources: list[tuple[str, ImageKind]] = []
    if sub.cmd == "copy":
        sources = [(value, "copy-from") for value in _flag_values(sub.flags, "from")[0]]
    elif sub.cmd == "run":
        for value in _flag_values(sub.flags, "mount")[0]:
            source, _ = _mount_sources(value)
            if source is not None:
                sources.append((source, "mount-from"))
    for source, kind in sources:
        if source and source != "scratch" and "$" not in source and not _INDEX_RE.fullmatch(source):
            candidates.append(ImageUse(source, path, node.line, kind))


def _check_onbuild(node: _Node, path: str, errors: list[ScanError]) -> None:
    if node.sub is None:
        errors.append(ScanError(path, node.line, "ONBUILD requires at least one argument"))
        return
    trigger = node.sub.cmd.upper()
    if trigger == "ONBUILD":
        errors.append(
            ScanError(path, node.line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        )
    elif trigger in ("MAINTAINER", "FROM"):
        errors.append(ScanError(path, node.line, f"{trigger} isn't allowed as an ONBUILD trigger"))


def _find_cycle(stages: list[_Stage]) -> tuple[_Stage, int] | None:
    """First stage (in file order) on a dependency cycle, with the line of its first edge.

    Edges are COPY --from / RUN --mount=from= dependencies and FROM-a-stage bases.
    Iterative DFS keeps this linear and safe for thousands of stages.
    """
    edges: list[list[tuple[int, int]]] = []
    for stage in stages:
        out = list(stage.deps)
        if stage.base_stage is not None:
            out.append((stage.base_stage, stage.line))
        edges.append(out)
    white, grey, black = 0, 1, 2
    color = [white] * len(stages)
    for root in range(len(stages)):
        if color[root] != white:
            continue
        color[root] = grey
        stack: list[tuple[int, int]] = [(root, 0)]
        path_lines: list[int] = []
        while stack:
            current, next_edge = stack[-1]
            if next_edge >= len(edges[current]):
                color[current] = black
                stack.pop()
                if path_lines:
                    path_lines.pop()
                continue
            stack[-1] = (current, next_edge + 1)
            target, line = edges[current][next_edge]
            if color[target] == grey:
                first_line = path_lines[0] if path_lines else line
                return stages[root], first_line
            if color[target] == white:
                color[target] = grey
                path_lines.append(line)
                stack.append((target, 0))
    return None
