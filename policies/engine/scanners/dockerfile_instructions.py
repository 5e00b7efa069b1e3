"""BuildKit's instruction checks (``instructions.Parse`` and ``BFlags``), ported.

Every instruction BuildKit refuses (an unknown flag, a wrong number of arguments, a word its
shell lexer cannot expand, a malformed ``--platform``) is an error here too, so a scan never
vouches for a Dockerfile that does not build.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from policies.engine.scanners.dockerfile_parser import TOKEN_WS, Node, parse_words
from policies.engine.scanners.go_quote import go_quote
from policies.engine.scanners.shell_lexer import ShellLexError, expand_word

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


def _words_expanded(node: Node, escape: str) -> list[str]:
    """The words BuildKit expands with its shell lexer when it dispatches ``node``."""
    cmd, rest = node.cmd, node.rest
    if cmd in ("env", "label"):
        words = node.words if node.words is not None else parse_words(rest, escape)
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
        return [word.partition("=")[2] for word in parse_words(rest, escape) if "=" in word]
    if cmd in ("expose", "volume", "copy", "add") and not node.is_json:
        words = [word for word in TOKEN_WS.split(rest) if word]
        if cmd in ("copy", "add"):
            words += [
                flag.partition("=")[2]
                for flag in node.flags
                if flag.startswith(("--chown=", "--chmod="))
            ]
        return words
    return []


def _check_healthcheck(node: Node) -> str | None:
    parts = TOKEN_WS.split(node.rest, maxsplit=1) if node.rest else []
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
        return f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)"
    if not args or (node.is_json and args.replace(" ", "") == "[]"):
        return "Missing command after HEALTHCHECK CMD"
    return None


def check_instruction(node: Node, escape: str) -> str | None:
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


def platform_valid(value: str) -> bool:
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
