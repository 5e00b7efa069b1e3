"""BuildKit's shell word lexer (``frontend/dockerfile/shell/lex.go``), ported.

Expands ``$VAR``, ``${VAR}`` and the ``${VAR:-default}`` family exactly as BuildKit does when it
reads ``FROM``, ``COPY --from`` and the other instructions that name images, with the same
quoting and escape rules and the same error messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from policies.engine.scanners.go_quote import go_quote


class ShellLexError(ValueError):
    """A word BuildKit's shell lexer rejects (bad substitution, unterminated quote...)."""


# Go's unicode.IsSpace differs from str.isspace only on the ASCII file/group/record/unit
# separators, which Python counts as whitespace and Go does not.
_NOT_GO_SPACE = frozenset("\x1c\x1d\x1e\x1f")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


def is_go_space(ch: str) -> bool:
    return ch.isspace() and ch not in _NOT_GO_SPACE


class _Words:
    """Accumulates the whitespace-separated words of a processed string (wordsStruct)."""

    __slots__ = ("in_word", "word", "words")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_go_space(ch):
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


class ShellLexer:
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
            raise ShellLexError(f"failed to process {go_quote(word)}: {exc}") from None

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
        if self._peek() == "{":
            self._pos += 1  # the '{'
            return self._braced()
        name = self._name()
        if not name:
            return "$"
        value, found = self._get(name)
        if not found and self.skip_unset_env:
            return "$" + name
        return value

    def _braced(self) -> str:
        """``${...}`` after the brace: a name, then ``}``, a ``/`` replacement or a modifier."""
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
        return self._modified(name, ch)

    def _modified(self, name: str, ch: str) -> str:
        """``${name<op>word}`` with ``op`` one of ``- + ? # %`` (and ``:-``, ``:+``, ``:?``)."""
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
        substitution = _Substitution(name, ch, modifier, word, null_is_unset)
        return substitution.apply(value if found else None)

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


@dataclass(frozen=True)
class _Substitution:
    """``${name<op>word}`` as parsed; ``apply`` gives its value for the variable's value."""

    name: str
    op: str  # - + ? # % (after an optional ":", which ``null_is_unset`` records)
    modifier: str  # as written, for the error message
    word: str
    null_is_unset: bool

    def apply(self, value: str | None) -> str:
        """The substitution's result; ``value`` is ``None`` when the variable is unset."""
        empty = value is None or (self.null_is_unset and value == "")
        if self.op == "-":
            return self.word if empty or value is None else value
        if self.op == "+":
            return "" if empty else self.word
        if self.op == "?":
            if value is None:
                raise ShellLexError(f"{self.name}: {self.word or 'is not allowed to be unset'}")
            if self.null_is_unset and value == "":
                raise ShellLexError(f"{self.name}: {self.word or 'is not allowed to be empty'}")
            return value
        if self.op in ("#", "%"):
            greedy = bool(self.word) and self.word[0] == self.op
            pattern = self.word[1:] if greedy else self.word
            if self.op == "%":
                return _trim_suffix(pattern, value or "", greedy)
            return _trim_prefix(pattern, value or "", greedy)
        raise ShellLexError(f"unsupported modifier ({self.modifier}) in substitution")


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
    return ShellLexer(escape).process(word, env)[0]
