"""Find every image a Compose project pulls, reading the project as ``docker compose config``.

A project is one or more Compose files merged in order (``docker compose -f a -f b``), each
YAML document of a file in turn, with compose-go's rules: mappings merge key by key,
sequences append, ``build: DIR`` is ``build: {context: DIR}``, ``build.args``,
``build.additional_contexts`` and ``build.labels`` merge per key (list or mapping form, a
later file wins), ``!reset`` removes and ``!override`` replaces what earlier files set.
``include`` imports other projects (their own directory and ``.env``; the including file's
definitions win over imported ones), ``extends`` merges a base service from the same file or
another one, YAML anchors and merge keys work as in YAML. Relative build contexts resolve
against the project directory (the first file's), those of an extended or included file
against that file's directory.

What counts as a pull, for **every** service (profiles included, see below):

* ``image`` (kind ``compose``), unless the service also has a ``build`` and
  ``pull_policy: build`` (then ``image`` only names what is built; by default Compose tries
  to pull it first and builds when the pull fails, so it is a pull);
* everything the service's ``build`` pulls: its Dockerfile (``dockerfile``, the lower-case
  ``dockerfile`` fallback BuildKit accepts, or ``dockerfile_inline`` with lines counted in
  the Compose file), scanned with the service's ``build.args`` once per platform
  (``platform``, ``build.platforms``, ``x-bake.platforms``); every stage, whatever
  ``build.target`` says, because any stage can be built;
* ``build.additional_contexts`` (and ``x-bake.contexts``) given as ``docker-image://IMAGE``
  (kind ``compose``), and registry ``build.cache_from`` (and ``x-bake.cache-from``) entries
  (kind ``cache-from``);
* image volumes (``volumes: [{type: image, source: IMAGE}]``), lifecycle hooks with their
  own ``image`` (``pre_start``, ``post_start``, ``pre_stop``) and the models Docker Model
  Runner pulls (top-level ``models.*.model``, ``provider: {type: model}`` options), kind
  ``compose``.

A build whose context is remote (a git or HTTP URL) without a ``dockerfile_inline`` cannot be
read and is an error, as are remote ``include`` and ``extends`` files.

Interpolation is a port of compose-go's ``template`` package (``$VAR``, ``${VAR}``,
``${VAR:-d}``, ``${VAR-d}``, ``${VAR:?msg}``, ``${VAR?msg}``, ``${VAR:+alt}``, ``${VAR+alt}``,
``$$`` and nested defaults) applied to every string value, so a required variable missing
anywhere is reported as Compose would fail on it. Variables come from, in increasing
priority: the explicit env files (later wins) -- or, when none is given, the ``.env`` files
of the directory Compose runs in and of the project directory (the first found wins) --
then the process environment. Dotenv files follow compose-go's parser.

By default every service is scanned, including those whose profiles nobody activates
(``docker compose run SERVICE`` and ``--profile`` start them); ``profiles`` restricts the
scan to services without profiles plus those in the given profiles (``*`` selects all).
Never raises for any input: problems become :class:`ScanError`.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Mapping, Sequence

import yaml

from policies.engine.scanners.dockerfile_stages import scan_dockerfile
from policies.engine.scanners.go_quote import go_quote
from policies.engine.scanners.results import (
    ImageKind,
    ImageUse,
    ScanError,
    ScanResult,
    validate_reference,
)

__all__ = [
    "DockerfileCache",
    "DotenvError",
    "InterpolationError",
    "load_compose_env",
    "parse_dotenv",
    "scan_compose",
    "scan_compose_project",
    "substitute",
]

# --------------------------------------------------------------------------------------
# Interpolation: a port of compose-go/template.
# --------------------------------------------------------------------------------------

_TEMPLATE = re.compile(
    r"\$(?i:(?P<escaped>\$)|(?P<named>[_a-z][_a-z0-9]*)"
    r"|\{(?:(?P<braced>[_a-z][_a-z0-9]*(?::?[-+?](.*))?)\}|(?P<invalid>)))"
)
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class InterpolationError(ValueError):
    """A template Compose refuses: invalid syntax or a missing required variable."""

    def __init__(self, message: str, *, invalid_template: str | None = None) -> None:
        super().__init__(message)
        self.invalid_template = invalid_template


Lookup = Callable[[str], "str | None"]


_BRACE_TOKENS = re.compile(r"\}|\$\{")


def _first_brace_closing(text: str) -> int:
    """Index of the ``}`` closing the first ``${`` (counting nested ``${``), or -1."""
    depth = 0
    for token in _BRACE_TOKENS.finditer(text):
        if token.group() == "}":
            depth -= 1
            if depth == 0:
                return token.start()
        else:
            depth += 1
    return -1


def _apply_operator(op: str, substitution: str, lookup: Lookup) -> str:
    name, _, arg = substitution.partition(op)
    # compose-go interpolates the default/message before deciding whether it is used.
    arg = substitute(arg, lookup)
    value = lookup(name)
    if op in (":?", "?"):
        if value is None or (op == ":?" and value == ""):
            reason = f": {arg}" if arg else ""
            raise InterpolationError(f"required variable {name} is missing a value{reason}")
        return value
    if op == ":-":
        return value if value else arg
    if op == "-":
        return arg if value is None else value
    if op == ":+":
        return arg if value else (value or "")
    return arg if value is not None else ""  # "+"


def substitute(template: str, lookup: Lookup) -> str:
    """Interpolate ``template`` like compose-go's ``template.Substitute``.

    ``lookup(name)`` returns the variable's value or ``None`` when unset. Raises
    :class:`InterpolationError` with compose-go's message on the first problem.
    """
    if "$" not in template:
        return template

    def replace(match: re.Match[str]) -> str:
        substring = match.group(0)
        # The operator is the one appearing first in the whole matched text.
        positions = [(substring.find(op), op) for op in _OPERATORS if op in substring]
        operator = min(positions)[1] if positions else None
        close = _first_brace_closing(substring)
        rest = ""
        if close > -1:
            rest = substring[close + 1 :]
            substring = substring[: close + 1]
        groups = _TEMPLATE.search(substring)
        if groups is None:  # pragma: no cover - substring always starts with a match
            return substring
        if groups.group("escaped"):
            return "$"
        substitution = groups.group("named")
        braced = False
        if not substitution:
            substitution = groups.group("braced")
            braced = True
        if not substitution:
            raise InterpolationError(
                f"Invalid template: {go_quote(template)}", invalid_template=template
            )
        if braced and operator is not None and operator in substitution:
            value = _apply_operator(operator, substitution, lookup)
            return value + substitute(rest, lookup)
        return lookup(substitution) or ""

    return _TEMPLATE.sub(replace, template)


# --------------------------------------------------------------------------------------
# Dotenv files: a port of compose-go/dotenv's parser.
# --------------------------------------------------------------------------------------


class DotenvError(ValueError):
    """A dotenv file compose-go cannot parse; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


_DOTENV_SPACE = frozenset("\t\v\f\r \x85\xa0")
_EXPORT = re.compile(r"export\s+")
_ESCAPE_SEQ = re.compile(r"\\(?:[abcfnrtv$\"\\]|0\d{0,3})")
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "c": None,  # matched by the regex but not a Go escape: kept as written
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    '"': '"',
    "\\": "\\",
}


def _expand_escapes(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        seq = match.group(0)
        if seq == "\\$":
            return "$$"  # a literal $, protected from interpolation
        if seq.startswith("\\0"):
            digits = seq[2:]
            if len(digits) == 3 and all(c in "01234567" for c in digits):
                code = int(digits, 8)
                if code <= 255:
                    return chr(code)
            return seq
        return _SIMPLE_ESCAPES.get(seq[1]) or seq

    return _ESCAPE_SEQ.sub(repl, text)


class _DotenvParser:
    def __init__(self, lookup: Lookup) -> None:
        self.line = 1
        self.lookup = lookup

    def parse(self, src: str, out: dict[str, str]) -> None:
        cutset: str | None = src
        while True:
            cutset = self._statement_start(cutset or "")
            if cutset is None:
                return
            key, left, inherited = self._locate_key(cutset)
            if " " in key:
                raise DotenvError(self.line, "key cannot contain a space")
            if inherited:
                value = self.lookup(key)
                if value is not None and key:
                    out[key] = value
                cutset = left
                continue
            value, left = self._extract_value(left, out)
            if key:
                out[key] = value
            cutset = left

    def _statement_start(self, src: str) -> str | None:
        while True:
            pos = -1
            for i, ch in enumerate(src):
                if ch == "\n":
                    self.line += 1
                if not ch.isspace():
                    pos = i
                    break
            if pos == -1:
                return None
            src = src[pos:]
            if src[0] != "#":
                return src
            newline = src.find("\n")
            if newline == -1:
                return None
            src = src[newline:]

    def _locate_key(self, src: str) -> tuple[str, str, bool]:
        match = _EXPORT.match(src)
        if match:
            src = src[match.end() :]
        src = src.lstrip("".join(_DOTENV_SPACE))
        key = ""
        offset = 0
        inherited = False
        for i, ch in enumerate(src):
            if ch in _DOTENV_SPACE:
                continue
            if ch in "=:\n":
                key = src[:i]
                offset = i + 1
                inherited = ch == "\n"
                break
            if ch in "_.-[]" or ch.isalnum():
                continue
            raise DotenvError(self.line, f"unexpected character {go_quote(ch)} in variable name")
        if not src:
            raise DotenvError(self.line, "zero length string")
        key = key.rstrip()
        return key, src[offset:].lstrip("".join(_DOTENV_SPACE)), inherited

    def _expand(self, value: str, env: Mapping[str, str]) -> str:
        def lookup(name: str) -> str | None:
            # compose-go looks in the file being parsed first, then the outer lookup.
            found = env.get(name)
            return found if found is not None else self.lookup(name)

        try:
            return substitute(value, lookup)
        except InterpolationError as exc:
            raise DotenvError(self.line, str(exc)) from None

    def _extract_value(self, src: str, env: Mapping[str, str]) -> tuple[str, str]:
        quote = src[0] if src and src[0] in ("'", '"') else ""
        if not quote:
            value, _, rest = src.partition("\n")
            value = value.split(" #", 1)[0].rstrip()  # inline comments need a space before #
            expanded = self._expand(value, env)
            self.line += 1
            return expanded, rest
        start_line = self.line
        for i in range(1, len(src)):
            ch = src[i]
            if ch == "\n":
                self.line += 1
            if ch != quote or src[i - 1] == "\\":
                continue
            value = src[1:i]
            if quote == '"':
                value = self._expand(_expand_escapes(value), env)
            return value, src[i + 1 :]
        end = src.find("\n")
        shown = src if end == -1 else src[:end]
        # Report where the value starts (compose-go reports the last line it read).
        raise DotenvError(start_line, f"unterminated quoted value {shown}")


def parse_dotenv(text: str, lookup: Lookup | None = None) -> dict[str, str]:
    """Parse a dotenv file like compose-go; ``lookup`` resolves inherited/expanded names.

    Raises :class:`DotenvError` (with a 1-based line) on malformed input.
    """
    out: dict[str, str] = {}
    _DotenvParser(lookup or (lambda _k: None)).parse(text, out)
    return out


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "t", "true", "y", "yes", "on")


def load_compose_env(
    compose_path: str,
    env_files: Sequence[str] | None,
    environ: Mapping[str, str],
    *,
    dotenv_dirs: Sequence[str] | None = None,
) -> tuple[dict[str, str], list[ScanError]]:
    """The variables Compose interpolates with, and errors reading the env files.

    Explicit ``env_files`` replace the default ``.env`` files (as ``docker compose
    --env-file`` does; a later file wins). Without them, Compose reads ``.env`` from the
    working directory and then from the project directory, the first one found winning:
    ``dotenv_dirs`` lists those directories (default: the directory of ``compose_path``).
    ``COMPOSE_DISABLE_ENV_FILE`` in ``environ`` turns the default off. The process
    ``environ`` always wins.
    """
    errors: list[ScanError] = []
    env: dict[str, str] = {}
    explicit = list(env_files or [])
    if explicit:
        files, later_wins = explicit, True
    else:
        later_wins = False
        files = []
        if not _truthy(environ.get("COMPOSE_DISABLE_ENV_FILE")):
            dirs = list(dotenv_dirs) if dotenv_dirs else [os.path.dirname(compose_path) or "."]
            for directory in dict.fromkeys(os.path.normpath(d) for d in dirs):
                default = os.path.join(directory, ".env")
                if os.path.isfile(default):
                    files.append(default)
    for env_file in files:
        try:
            with open(env_file, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError as exc:
            errors.append(ScanError(env_file, None, f"cannot read env file: {exc.strerror}"))
            continue

        def lookup(name: str, acc: dict[str, str] = env) -> str | None:
            found = acc.get(name)
            return found if found is not None else environ.get(name)

        try:
            values = parse_dotenv(text, lookup)
        except DotenvError as exc:
            errors.append(ScanError(env_file, exc.line, exc.message))
            continue
        if later_wins:
            env.update(values)
        else:
            for key, value in values.items():
                env.setdefault(key, value)
    env.update(environ)
    return env, errors


# --------------------------------------------------------------------------------------
# YAML with line numbers.
# --------------------------------------------------------------------------------------

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# compose-go's own tags: `!reset` drops what earlier files set, `!override` replaces it
# instead of merging into it.
_RESET_TAG = "!reset"
_OVERRIDE_TAG = "!override"


class _Str(str):
    """A YAML string value that remembers its file, 1-based line and interpolation failure."""

    file: str
    line: int
    failed: bool = False
    override: bool = False


class _Map(dict[str, object]):
    """A YAML mapping remembering its file, its line and where each key was written."""

    file: str
    line: int
    key_at: dict[str, tuple[str, int]]
    override: bool = False


class _Seq(list[object]):
    """A YAML sequence remembering its file and line."""

    file: str
    line: int
    override: bool = False


class _Reset:
    """A value tagged ``!reset``: the key is removed from what earlier files defined."""

    __slots__ = ("file", "line")

    def __init__(self, file: str, line: int) -> None:
        self.file = file
        self.line = line


class _Fail(Exception):
    """Stops loading one file; the error has already been recorded."""


def _new_map(file: str, line: int) -> _Map:
    out = _Map()
    out.file = file
    out.line = line
    out.key_at = {}
    return out


def _copy_map(source: _Map) -> _Map:
    out = _Map(source)
    out.file = source.file
    out.line = source.line
    out.key_at = dict(source.key_at)
    return out


def _located(value: str, origin: _Str) -> _Str:
    out = _Str(value)
    out.file = origin.file
    out.line = origin.line
    out.failed = origin.failed
    return out


def _absent(value: object) -> bool:
    return value is None or isinstance(value, _Reset)


class _Converter:
    """Turns composed YAML nodes into located Python values, interpolating strings."""

    def __init__(self, path: str, env: Mapping[str, str], errors: list[ScanError]) -> None:
        self.path = path
        self.errors = errors
        self.memo: dict[int, object] = {}
        self.active: set[int] = set()
        self.lookup: Lookup = env.get

    def convert(self, node: yaml.Node, where: str) -> object:
        key = id(node)
        if key in self.memo:
            return self.memo[key]  # aliases are converted once: no exponential blow-up
        if key in self.active:
            self.errors.append(
                ScanError(self.path, node.start_mark.line + 1, "recursive YAML alias")
            )
            raise _Fail
        self.active.add(key)
        try:
            value: object
            if node.tag == _RESET_TAG:
                value = _Reset(self.path, node.start_mark.line + 1)
            elif isinstance(node, yaml.MappingNode):
                value = self._mapping(node, where)
            elif isinstance(node, yaml.SequenceNode):
                seq = _Seq(self.convert(item, f"{where}[{i}]") for i, item in enumerate(node.value))
                seq.file = self.path
                seq.line = node.start_mark.line + 1
                value = seq
            else:
                value = self._scalar(node, where)
            if node.tag == _OVERRIDE_TAG and isinstance(value, (_Str, _Map, _Seq)):
                value.override = True
        finally:
            self.active.discard(key)
        self.memo[key] = value
        return value

    def _scalar(self, node: yaml.Node, where: str) -> object:
        line = node.start_mark.line + 1
        if node.tag == _NULL_TAG:
            return None
        text = str(node.value)
        failed = False
        # compose-go interpolates every string, including those under its own tags.
        if (node.tag == _STR_TAG or node.tag.startswith("!")) and "$" in text:
            try:
                text = substitute(text, self.lookup)
            except InterpolationError as exc:
                failed = True
                if exc.invalid_template is not None:
                    message = (
                        f"invalid interpolation format for {where}: "
                        f"{go_quote(exc.invalid_template)}; "
                        "you may need to escape any $ with another $"
                    )
                else:
                    message = f"error while interpolating {where}: {exc}"
                self.errors.append(ScanError(self.path, line, message))
        out = _Str(text)
        out.file = self.path
        out.line = line
        out.failed = failed
        return out

    def _mapping(self, node: yaml.MappingNode, where: str) -> _Map:
        out = _new_map(self.path, node.start_mark.line + 1)
        merged: list[_Map] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    converted = self.convert(source, where)
                    if not isinstance(converted, _Map):
                        self.errors.append(
                            ScanError(
                                self.path,
                                source.start_mark.line + 1,
                                "merge key (<<) needs a mapping or a list of mappings",
                            )
                        )
                        raise _Fail
                    merged.append(converted)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.errors.append(
                    ScanError(
                        self.path, key_node.start_mark.line + 1, "mapping keys must be scalars"
                    )
                )
                raise _Fail
            name = str(key_node.value)
            child = f"{where}.{name}" if where else name
            if name in out:
                # Compose's YAML parser refuses a repeated key; PyYAML would keep the last.
                first = out.key_at[name][1]
                self.errors.append(
                    ScanError(
                        self.path,
                        key_node.start_mark.line + 1,
                        f"mapping key {go_quote(name)} already defined at line {first}",
                    )
                )
            out[name] = self.convert(value_node, child)
            out.key_at[name] = (self.path, key_node.start_mark.line + 1)
        # Explicit keys win over merged ones; earlier merge sources win over later ones.
        for source in merged:
            for name, value in source.items():
                if name not in out:
                    out[name] = value
                    out.key_at[name] = source.key_at.get(name, (source.file, source.line))
        return out


def _yaml_error(path: str, exc: Exception) -> ScanError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    return ScanError(path, line, "invalid YAML: " + " ".join(str(exc).split()))


def _load(
    text: str, path: str, env: Mapping[str, str], errors: list[ScanError]
) -> tuple[bool, list[object]]:
    """Parse and interpolate every YAML document of one Compose file.

    Compose merges the documents of a file in order, like separate files. Returns
    ``(False, [])`` when the file could not be loaded (the error is recorded).
    """
    documents: list[object] = []
    try:
        for node in yaml.compose_all(text, Loader=_Loader):
            if node is None:
                continue
            documents.append(_Converter(path, env, errors).convert(node, ""))
    except yaml.YAMLError as exc:
        errors.append(_yaml_error(path, exc))
        return False, []
    except _Fail:
        return False, []
    except RecursionError:
        errors.append(ScanError(path, None, "YAML nested too deeply to scan"))
        return False, []
    except (MemoryError, ValueError, TypeError) as exc:
        errors.append(ScanError(path, None, f"invalid YAML: {exc}"))
        return False, []
    return True, documents


# --------------------------------------------------------------------------------------
# Merging: compose-go's override rules, on located values.
# --------------------------------------------------------------------------------------

# What compose-go treats as a remote resource (git, HTTP tarballs, OCI artifacts).
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/)", re.IGNORECASE)
_DOCKER_IMAGE_PREFIX = "docker-image://"
# Build mappings merged key by key, a later file's value winning (compose-go's
# mergeToSequence + EnforceUnicity on `KEY=VALUE` items).
_KEY_VALUE_FIELDS = frozenset({"args", "additional_contexts", "labels"})


def _as_build(value: object) -> object:
    """``build: ./dir`` is ``build: {context: ./dir}`` for merging."""
    if isinstance(value, _Str):
        out = _new_map(value.file, value.line)
        out["context"] = value
        out.key_at["context"] = (value.file, value.line)
        return out
    return value


def _as_key_values(value: object) -> object:
    """A ``[KEY=VALUE, KEY]`` list as a mapping (``KEY`` alone maps to ``None``)."""
    if not isinstance(value, _Seq) or not all(isinstance(item, _Str) for item in value):
        return value
    out = _new_map(value.file, value.line)
    for item in value:
        assert isinstance(item, _Str)
        key, sep, rest = item.partition("=")
        out[key] = _located(rest, item) if sep else None
        out.key_at[key] = (item.file, item.line)
    return out


class _TooLarge(Exception):
    """Merging would take more steps than any real project needs (an alias bomb)."""


class _Budget:
    """Steps left for merging one project: aliases make trees share nodes, so a tree
    merged with itself at every level could otherwise cost exponential time."""

    __slots__ = ("left",)

    def __init__(self, steps: int = 200_000) -> None:
        self.left = steps

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise _TooLarge


def _merge(base: object, other: object, path: tuple[str, ...], budget: _Budget) -> object:
    """``other`` (a later file, or the extending service) merged over ``base``."""
    if _absent(base):
        return other
    if other is None:
        return base
    if getattr(other, "override", False):
        return other
    if len(path) == 3 and path[0] == "services" and path[2] == "build":
        base, other = _as_build(base), _as_build(other)
    elif (
        len(path) == 4
        and path[0] == "services"
        and path[2] == "build"
        and path[3] in _KEY_VALUE_FIELDS
    ):
        base, other = _as_key_values(base), _as_key_values(other)
    if isinstance(base, _Map) and isinstance(other, _Map):
        budget.spend(len(base) + len(other))
        out = _copy_map(base)
        for key, value in other.items():
            if isinstance(value, _Reset):
                out.pop(key, None)
                out.key_at.pop(key, None)
                continue
            if value is None and key in out:
                continue
            out[key] = _merge(out.get(key), value, (*path, key), budget)
            out.key_at[key] = other.key_at.get(key, (other.file, other.line))
        return out
    if isinstance(base, _Seq) and isinstance(other, _Seq):
        budget.spend(len(base) + len(other))
        seq = _Seq(base)
        seq.extend(other)
        seq.file = other.file
        seq.line = other.line
        return seq
    return other


def _without(spec: _Map, key: str) -> _Map:
    out = _copy_map(spec)
    out.pop(key, None)
    out.key_at.pop(key, None)
    return out


def _local_path(base_dir: str, value: str) -> str:
    return os.path.normpath(os.path.join(base_dir, os.path.expanduser(value)))


def _resolve_build_paths(model: object, base_dir: str, *, fill_default: bool) -> object:
    """A copy of ``model`` whose local build contexts are relative to ``base_dir``.

    ``fill_default`` gives a build without ``context`` the context ``.``, as Compose does
    once a project (not a file being extended) is complete.
    """
    if not isinstance(model, _Map):
        return model
    services = model.get("services")
    if not isinstance(services, _Map):
        return model
    new_services = _copy_map(services)
    for name, spec in services.items():
        if not isinstance(spec, _Map):
            continue
        build = spec.get("build")
        if isinstance(build, _Str):
            new_build: object = build
            if not _REMOTE.match(build):
                new_build = _located(_local_path(base_dir, build), build)
        elif isinstance(build, _Map):
            context = build.get("context")
            new_map = _copy_map(build)
            if isinstance(context, _Str) and not _REMOTE.match(context):
                new_map["context"] = _located(_local_path(base_dir, context), context)
            elif _absent(context) and fill_default:
                default = _Str(os.path.normpath(base_dir))
                default.file, default.line = build.file, build.line
                new_map["context"] = default
            new_build = new_map
        else:
            continue
        new_spec = _copy_map(spec)
        new_spec["build"] = new_build
        new_services[name] = new_spec
    out = _copy_map(model)
    out["services"] = new_services
    return out


# --------------------------------------------------------------------------------------
# Projects: files, include and extends, loaded like compose-go's loader.
# --------------------------------------------------------------------------------------


def _cache_image(entry: str) -> str | None:
    """The registry image a ``cache_from`` entry reads, or ``None`` (local, gha, s3...)."""
    if "=" not in entry:
        return entry.strip() or None
    try:
        fields = next(csv.reader([entry]))
    except (csv.Error, StopIteration):
        return None
    options: dict[str, str] = {}
    for item in fields:
        key, _, value = item.partition("=")
        options[key.strip().lower()] = value.strip()
    # buildx treats an entry without a type as a registry cache.
    if options.get("type", "registry").lower() != "registry":
        return None
    return options.get("ref") or None


class DockerfileCache:
    """Dockerfile texts and scans shared by every project of one run.

    A Dockerfile built by many services (or also scanned on its own) is read once and
    scanned once per distinct set of build args and platform.
    """

    def __init__(self) -> None:
        self.texts: dict[str, str | OSError] = {}
        self.scans: dict[tuple[str, tuple[tuple[str, str], ...], str], ScanResult] = {}

    def read_error(self, path: str) -> str:
        """The reason ``path`` could not be read (after :meth:`scan` returned ``None``)."""
        text = self.texts.get(os.path.abspath(path))
        return text.strerror or str(text) if isinstance(text, OSError) else ""

    def text(self, path: str) -> str | None:
        """The content of ``path``, or ``None`` when it cannot be read (read once)."""
        key = os.path.abspath(path)
        text = self.texts.get(key)
        if text is None:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError as exc:
                text = exc
            self.texts[key] = text
        return None if isinstance(text, OSError) else text

    def scan(self, path: str, args: Mapping[str, str], platform: str) -> ScanResult | None:
        """The scan of the Dockerfile at ``path``, or ``None`` when it cannot be read."""
        scan_key = (os.path.abspath(path), tuple(sorted(args.items())), platform)
        scanned = self.scans.get(scan_key)
        if scanned is not None:
            return scanned
        text = self.text(path)
        if text is None:
            return None
        scanned = scan_dockerfile(text, path=path, build_args=args, platform=platform)
        self.scans[scan_key] = scanned
        return scanned


class _ComposeProject:
    """Loads one Compose project (files merged in order) and scans every service."""

    def __init__(
        self,
        env: Mapping[str, str],
        profiles: Sequence[str] | None,
        platform: str,
        result: ScanResult,
        dockerfiles_seen: set[str] | None,
        texts: Mapping[str, str | None],
        dockerfile_cache: DockerfileCache | None = None,
    ) -> None:
        self.env = env
        self.profiles = set(profiles or [])
        self.platform = platform
        self.result = result
        self.dockerfiles_seen = dockerfiles_seen
        self.texts = texts
        self.budget = _Budget()
        self.environments: list[Mapping[str, str]] = [env]
        self.documents_cache: dict[tuple[str, int], list[_Map]] = {}
        self.extends_cache: dict[tuple[str, int], _Map | None] = {}
        self.dockerfiles = dockerfile_cache if dockerfile_cache is not None else DockerfileCache()

    def error(self, file: str, line: int | None, message: str) -> None:
        self.result.errors.append(ScanError(file, line, message))

    # ---- loading -------------------------------------------------------------------

    def documents(self, path: str, env: Mapping[str, str]) -> list[_Map]:
        """The interpolated YAML documents of one file (cached per environment)."""
        key = (os.path.normpath(path), id(env))
        cached = self.documents_cache.get(key)
        if cached is not None:
            return cached
        text = self.texts.get(key[0])
        if text is None:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError as exc:
                self.error(path, None, f"cannot read compose file: {exc.strerror}")
                self.documents_cache[key] = []
                return []
        loaded, docs = _load(text, path, env, self.result.errors)
        maps: list[_Map] = []
        if loaded and not docs:
            self.error(path, None, "empty compose file")
        for doc in docs:
            if isinstance(doc, _Map):
                maps.append(doc)
            else:
                line = getattr(doc, "line", 1)
                self.error(path, line, "top-level object must be a mapping")
        self.documents_cache[key] = maps
        return maps

    def load_model(
        self,
        files: Sequence[str],
        working_dir: str,
        env: Mapping[str, str],
        include_stack: tuple[str, ...],
    ) -> _Map | None:
        """Merge ``files`` in order (each with its includes and extends applied)."""
        model: object = None
        for file in files:
            stack = (*include_stack, os.path.normpath(file))
            for cfg in self.documents(file, env):
                cfg = self.apply_include(cfg, file, working_dir, env, stack)
                cfg = self.apply_extends(cfg, file, working_dir, env)
                model = _merge(model, cfg, (), self.budget)
        return model if isinstance(model, _Map) else None

    def apply_include(
        self,
        cfg: _Map,
        file: str,
        working_dir: str,
        env: Mapping[str, str],
        stack: tuple[str, ...],
    ) -> _Map:
        """Import the services of ``include`` entries; the including file's own win."""
        include = cfg.get("include")
        if _absent(include):
            return cfg
        at_file, at_line = cfg.key_at.get("include", (file, cfg.line))
        if not isinstance(include, _Seq):
            self.error(at_file, at_line, "include must be a list")
            return _without(cfg, "include")
        imported: object = None
        for entry in include:
            line = getattr(entry, "line", at_line)
            paths: list[object]
            env_files: list[object] = []
            project_directory: object = None
            if isinstance(entry, _Str):
                paths = [entry]
            elif isinstance(entry, _Map):
                raw = entry.get("path")
                paths = list(raw) if isinstance(raw, _Seq) else [raw]
                raw_env = entry.get("env_file")
                if isinstance(raw_env, _Seq):
                    env_files = list(raw_env)
                elif not _absent(raw_env):
                    env_files = [raw_env]
                project_directory = entry.get("project_directory")
            else:
                paths = []
            texts = [p for p in paths if isinstance(p, str) and p]
            if not texts or len(texts) != len(paths):
                self.error(at_file, line, "include entries need a path")
                continue
            remote = next((p for p in texts if _REMOTE.match(p)), None)
            if remote is not None:
                self.error(
                    at_file,
                    line,
                    f"remote include {remote!r} cannot be scanned: "
                    "scan a local copy of what it includes",
                )
                continue
            targets = [_local_path(working_dir, p) for p in texts]
            if targets[0] in stack:
                self.error(at_file, line, f"include cycle detected through {targets[0]}")
                continue
            if isinstance(project_directory, str) and project_directory:
                project_dir = _local_path(working_dir, project_directory)
            else:
                project_dir = os.path.dirname(targets[0]) or "."
            include_env = self.include_env(env, env_files, working_dir, project_dir, at_file, line)
            sub = self.load_model(targets, project_dir, include_env, stack)
            if sub is None:
                continue
            sub = _resolve_build_paths(sub, project_dir, fill_default=True)  # type: ignore[assignment]
            services = sub.get("services") if isinstance(sub, _Map) else None
            if isinstance(services, _Map):
                # A service imported twice: the one imported first wins, as in compose-go.
                imported = (
                    services
                    if imported is None
                    else _merge(services, imported, ("services",), self.budget)
                )
        out = _without(cfg, "include")
        own = cfg.get("services")
        if imported is not None:
            out["services"] = (
                imported if _absent(own) else _merge(imported, own, ("services",), self.budget)
            )
            out.key_at.setdefault("services", (at_file, at_line))
        return out

    def include_env(
        self,
        env: Mapping[str, str],
        env_files: Sequence[object],
        working_dir: str,
        project_dir: str,
        at_file: str,
        line: int,
    ) -> dict[str, str]:
        """The environment of an included project: the includer's, plus its env files."""
        files: list[str] = []
        if env_files:
            for item in env_files:
                if isinstance(item, str) and item and item != "/dev/null":
                    files.append(_local_path(working_dir, item))
        else:
            default = os.path.join(project_dir, ".env")
            if os.path.isfile(default):
                files.append(default)
        from_files: dict[str, str] = {}
        for env_file in files:
            try:
                with open(env_file, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError as exc:
                self.error(at_file, line, f"cannot read env file {env_file}: {exc.strerror}")
                continue

            def lookup(name: str, acc: dict[str, str] = from_files) -> str | None:
                found = acc.get(name)
                return found if found is not None else env.get(name)

            try:
                from_files.update(parse_dotenv(text, lookup))
            except DotenvError as exc:
                self.error(env_file, exc.line, exc.message)
        merged = dict(env)
        for key, value in from_files.items():
            merged.setdefault(key, value)  # the including project's variables win
        # Caches are keyed by id(env): keep every environment alive so no id is reused.
        self.environments.append(merged)
        return merged

    def apply_extends(self, cfg: _Map, file: str, lookup_dir: str, env: Mapping[str, str]) -> _Map:
        """Resolve ``extends`` of every service of one loaded file."""
        services = cfg.get("services")
        if not isinstance(services, _Map):
            return cfg
        if not any(isinstance(s, _Map) and "extends" in s for s in services.values()):
            return cfg
        memo: dict[str, object] = {}
        new_services = _copy_map(services)
        for name in services:
            new_services[name] = self.extend(name, services, file, lookup_dir, env, (), memo)
        out = _copy_map(cfg)
        out["services"] = new_services
        return out

    def extends_base(self, path: str, env: Mapping[str, str]) -> _Map | None:
        """The services of a file named by ``extends.file``, contexts resolved there."""
        key = (os.path.normpath(path), id(env))
        if key in self.extends_cache:
            return self.extends_cache[key]
        model: object = None
        for doc in self.documents(path, env):
            model = _merge(model, doc, (), self.budget)
        model = _resolve_build_paths(model, os.path.dirname(path) or ".", fill_default=False)
        services = model.get("services") if isinstance(model, _Map) else None
        found = services if isinstance(services, _Map) else None
        self.extends_cache[key] = found
        return found

    def extend(
        self,
        name: str,
        services: _Map,
        file: str,
        lookup_dir: str,
        env: Mapping[str, str],
        stack: tuple[tuple[str, str], ...],
        memo: dict[str, object],
    ) -> object:
        """Service ``name`` of ``services`` with its ``extends`` chain merged in."""
        memo_key = f"{os.path.normpath(file)}\0{name}"
        if memo_key in memo:
            return memo[memo_key]
        spec = services.get(name)
        if not isinstance(spec, _Map) or _absent(spec.get("extends")):
            return spec
        at_file, at_line = spec.key_at.get("extends", (spec.file, spec.line))
        own = _without(spec, "extends")
        key = (os.path.normpath(file), name)
        if key in stack:
            self.error(at_file, at_line, f"circular reference with extends in service {name}")
            return own
        extends = spec.get("extends")
        ref: object = None
        ref_file: object = None
        if isinstance(extends, _Str):
            ref = extends
        elif isinstance(extends, _Map):
            ref = extends.get("service")
            ref_file = extends.get("file")
        if not isinstance(ref, str) or not ref:
            self.error(at_file, at_line, f"services.{name}.extends needs a service name")
            return own
        base_services: _Map | None = services
        base_file, base_dir = file, lookup_dir
        if not _absent(ref_file):
            if not isinstance(ref_file, str) or not ref_file:
                self.error(at_file, at_line, f"services.{name}.extends.file must be a string")
                return own
            if _REMOTE.match(ref_file):
                self.error(at_file, at_line, f"remote extends file {ref_file!r} cannot be scanned")
                return own
            base_file = _local_path(lookup_dir, ref_file)
            base_dir = os.path.dirname(base_file) or "."
            base_services = self.extends_base(base_file, env)
        if base_services is None or ref not in base_services:
            self.error(
                at_file,
                at_line,
                f"cannot extend service {str(ref)!r} in {base_file}: service not found",
            )
            return own
        base = self.extend(str(ref), base_services, base_file, base_dir, env, (*stack, key), memo)
        merged = own
        if isinstance(base, _Map):
            merged_value = _merge(_without(base, "extends"), own, ("services", name), self.budget)
            merged = merged_value if isinstance(merged_value, _Map) else own
        memo[memo_key] = merged
        return merged

    # ---- scanning ------------------------------------------------------------------

    def selected(self, spec: _Map) -> bool:
        if not self.profiles or "*" in self.profiles:
            return True
        profiles = spec.get("profiles")
        names = (
            {str(p) for p in profiles if isinstance(p, str)}
            if isinstance(profiles, _Seq)
            else set()
        )
        return not names or bool(self.profiles & names)

    def scan_model(self, model: _Map) -> None:
        """Scan every service (and model) of a loaded project."""
        self.scan_models(model.get("models"))
        services = model.get("services")
        if _absent(services):
            return
        if not isinstance(services, _Map):
            file, line = model.key_at.get("services", (model.file, model.line))
            self.error(file, line, "services must be a mapping")
            return
        for name, spec in services.items():
            if isinstance(spec, _Reset):
                continue
            at = services.key_at.get(name, (services.file, services.line))
            if spec is None:
                spec = _new_map(*at)
            if not isinstance(spec, _Map):
                self.error(at[0], at[1], f"service {name} must be a mapping")
                continue
            if self.selected(spec):
                self.scan_service(name, spec)

    def add_image(self, value: _Str, image: str, kind: ImageKind) -> None:
        problem = validate_reference(image)
        if problem is not None:
            self.error(value.file, value.line, problem)
        else:
            self.result.images.append(ImageUse(image, value.file, value.line, kind))

    def scan_service(self, name: str, spec: _Map) -> None:
        image = spec.get("image")
        build = spec.get("build")
        self.scan_service_extras(spec)
        if _absent(image) and _absent(build) and isinstance(spec.get("provider"), _Map):
            return  # a provider service runs no container of its own
        if _absent(image) and _absent(build):
            self.error(
                spec.file,
                spec.line,
                f"service {name!r} has neither an image nor a build context specified",
            )
            return
        if not _absent(image):
            policy = spec.get("pull_policy")
            # With `pull_policy: build` the image name is only the tag of what is built.
            tag_only = (
                not _absent(build) and isinstance(policy, str) and policy.strip().lower() == "build"
            )
            if not isinstance(image, _Str):
                file, line = spec.key_at.get("image", (spec.file, spec.line))
                self.error(file, line, f"services.{name}.image must be a string")
            elif image.failed:
                pass  # the interpolation error is already reported
            elif image == "":
                self.error(image.file, image.line, f"service {name}: empty image")
            elif not tag_only:
                self.add_image(image, str(image), "compose")
        if not _absent(build):
            at = spec.key_at.get("build", (spec.file, spec.line))
            self.scan_build(name, spec, build, at)

    def scan_service_extras(self, spec: _Map) -> None:
        """Pulls besides the service image: image volumes, hook images, provider models."""
        volumes = spec.get("volumes")
        if isinstance(volumes, _Seq):
            for volume in volumes:
                if not isinstance(volume, _Map):
                    continue
                kind, source = volume.get("type"), volume.get("source")
                if kind == "image" and isinstance(source, _Str) and not source.failed:
                    self.add_image(source, str(source), "compose")
        for hook_list in ("pre_start", "post_start", "pre_stop"):
            hooks = spec.get(hook_list)
            for hook in hooks if isinstance(hooks, _Seq) else []:
                # A hook with its own image runs in a container of that image.
                image = hook.get("image") if isinstance(hook, _Map) else None
                if isinstance(image, _Str) and image and not image.failed:
                    self.add_image(image, str(image), "compose")
        provider = spec.get("provider")
        if isinstance(provider, _Map) and provider.get("type") == "model":
            options = provider.get("options")
            model = options.get("model") if isinstance(options, _Map) else None
            if isinstance(model, _Str) and not model.failed:
                self.add_image(model, str(model), "compose")

    def scan_models(self, models: object) -> None:
        """Top-level ``models``: Docker Model Runner pulls each one from a registry."""
        if not isinstance(models, _Map):
            return
        for spec in models.values():
            model = spec.get("model") if isinstance(spec, _Map) else None
            if isinstance(model, _Str) and not model.failed:
                self.add_image(model, str(model), "compose")

    def build_platforms(self, spec: _Map, fields: _Map) -> list[str]:
        platforms: list[str] = []
        platform = spec.get("platform")
        platforms.append(str(platform) if isinstance(platform, str) and platform else self.platform)
        bake = fields.get("x-bake")
        for source in (
            fields.get("platforms"),
            bake.get("platforms") if isinstance(bake, _Map) else None,
        ):
            if isinstance(source, _Seq):
                platforms.extend(str(p) for p in source if isinstance(p, str) and p)
            elif isinstance(source, _Str) and source:
                platforms.extend(p.strip() for p in source.split(",") if p.strip())
        return list(dict.fromkeys(platforms))

    def scan_build(self, name: str, spec: _Map, build: object, at: tuple[str, int]) -> None:
        file, line = at
        if isinstance(build, _Str):
            context: object = build
            fields = _new_map(build.file, build.line)
        elif isinstance(build, _Map):
            fields = build
            context = build.get("context")
        else:
            self.error(file, line, f"services.{name}.build must be a string or a mapping")
            return
        self.add_build_images(fields, at)
        args = self.parse_args(name, fields.get("args"), at)
        platforms = self.build_platforms(spec, fields)
        inline = fields.get("dockerfile_inline")
        if isinstance(inline, _Str) and isinstance(fields.get("dockerfile"), str):
            self.error(
                file,
                line,
                f"service {name!r} declares mutually exclusive dockerfile and dockerfile_inline",
            )
        if isinstance(inline, _Str):
            if not inline.failed:
                for platform in platforms:
                    self.scan_inline(inline, args, platform)
            return
        self.scan_build_context(name, context, fields.get("dockerfile"), args, platforms, at)

    def add_build_images(self, fields: _Map, at: tuple[str, int]) -> None:
        """Images the build definition itself names: named contexts and cache sources."""
        bake = fields.get("x-bake")
        bake_map = bake if isinstance(bake, _Map) else _new_map(*at)
        for contexts in (fields.get("additional_contexts"), bake_map.get("contexts")):
            as_map = _as_key_values(contexts)
            if not isinstance(as_map, _Map):
                continue
            for value in as_map.values():
                if (
                    isinstance(value, _Str)
                    and value.startswith(_DOCKER_IMAGE_PREFIX)
                    and not value.failed
                ):
                    self.add_image(value, value[len(_DOCKER_IMAGE_PREFIX) :], "compose")
        for caches in (fields.get("cache_from"), bake_map.get("cache-from")):
            entries = caches if isinstance(caches, _Seq) else [caches]
            for entry in entries:
                if isinstance(entry, _Str) and not entry.failed:
                    image = _cache_image(str(entry))
                    if image is not None:
                        self.add_image(entry, image, "cache-from")

    def scan_build_context(
        self,
        name: str,
        context: object,
        dockerfile: object,
        args: Mapping[str, str],
        platforms: Sequence[str],
        at: tuple[str, int],
    ) -> None:
        """Scan the Dockerfile of a local build context, once per target platform."""
        file, line = at
        if _absent(context):
            context = _Str(".")
        if not isinstance(context, str):
            self.error(file, line, f"services.{name}.build.context must be a string")
            return
        if isinstance(context, _Str) and context.failed:
            return
        if _REMOTE.match(context):
            self.error(
                file,
                line,
                f"remote build context {str(context)!r} cannot be scanned: its Dockerfile is "
                "not in this checkout (build from a local context or a dockerfile_inline)",
            )
            return
        df_path = self.dockerfile_path(str(context), dockerfile)
        for platform in platforms:
            if not self.scan_dockerfile_file(df_path, args, platform, file, line):
                return
        if self.dockerfiles_seen is not None:
            self.dockerfiles_seen.add(os.path.abspath(df_path))

    def dockerfile_path(self, context: str, dockerfile: object) -> str:
        """The Dockerfile a build of ``context`` reads (``dockerfile``, else the default)."""
        name_in_context = (
            str(dockerfile) if isinstance(dockerfile, str) and dockerfile else "Dockerfile"
        )
        df_path = os.path.normpath(os.path.join(context, name_in_context))
        if os.path.basename(df_path) == "Dockerfile" and self.dockerfiles.text(df_path) is None:
            # BuildKit falls back to a lower-case `dockerfile` for the default name.
            lower = os.path.join(os.path.dirname(df_path), "dockerfile")
            if self.dockerfiles.text(lower) is not None:
                df_path = lower
        return df_path

    def scan_inline(self, inline: _Str, args: Mapping[str, str], platform: str) -> None:
        scanned = scan_dockerfile(str(inline), path=inline.file, build_args=args, platform=platform)
        # Block scalars start on the line after the `dockerfile_inline: |` key.
        offset = inline.line if "\n" in inline else inline.line - 1
        for use in scanned.images:
            self.result.images.append(ImageUse(use.image, inline.file, use.line + offset, use.kind))
        for err in scanned.errors:
            line = None if err.line is None else err.line + offset
            self.result.errors.append(ScanError(inline.file, line, err.message))

    def scan_dockerfile_file(
        self, df_path: str, args: Mapping[str, str], platform: str, file: str, line: int
    ) -> bool:
        scanned = self.dockerfiles.scan(df_path, args, platform)
        if scanned is None:
            reason = self.dockerfiles.read_error(df_path)
            self.error(file, line, f"cannot read Dockerfile {df_path}: {reason}")
            return False
        self.result.extend(scanned)
        return True

    def parse_args(self, name: str, raw: object, at: tuple[str, int]) -> dict[str, str]:
        args: dict[str, str] = {}
        if _absent(raw):
            return args
        values = _as_key_values(raw)
        if not isinstance(values, _Map):
            self.error(at[0], at[1], f"services.{name}.build.args must be a mapping or a list")
            return args
        for key, value in values.items():
            if _absent(value):
                found = self.env.get(key)  # no value: inherited from the environment
                if found is not None:
                    args[key] = found
            elif isinstance(value, str):
                args[key] = str(value)
            else:
                file, line = values.key_at.get(key, at)
                self.error(file, line, f"build arg {key} must be a scalar")
        return args


def dedupe(result: ScanResult) -> ScanResult:
    """Drop repeated image uses and errors (same Dockerfile built by several services)."""
    images = list(dict.fromkeys(result.images))
    errors = list(dict.fromkeys(result.errors))
    return ScanResult(images=images, errors=errors)


def scan_compose_project(
    files: Sequence[str],
    *,
    env_files: Sequence[str] | None = None,
    dotenv_dirs: Sequence[str] | None = None,
    profiles: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = "linux/amd64",
    dockerfiles_seen: set[str] | None = None,
    texts: Mapping[str, str | None] | None = None,
    dockerfile_cache: DockerfileCache | None = None,
) -> ScanResult:
    """Scan the Compose project made of ``files`` merged in order (``docker compose -f ...``).

    The project directory is the first file's directory: relative build contexts of every
    file resolve against it, and its ``.env`` (after those of ``dotenv_dirs``, the
    directories Compose was run from) supplies variables unless ``env_files`` are given.
    ``COMPOSE_ENV_FILES`` in ``environ`` (comma-separated) stands for ``env_files`` when none
    are given, as for ``docker compose``. ``texts`` maps a file path to its content when it is
    not to be read from disk.
    ``dockerfiles_seen``, if given, collects the absolute paths of Dockerfiles built;
    ``dockerfile_cache`` shares Dockerfile scans between the projects of one run.
    Never raises for any input: problems become :class:`ScanError`.
    """
    environ = os.environ if environ is None else environ
    result = ScanResult()
    local: list[str] = []
    for file in files:
        if _REMOTE.match(file):
            result.errors.append(
                ScanError(file, None, "remote compose file cannot be scanned: scan a local copy")
            )
        else:
            local.append(os.path.normpath(file))
    if not local:
        return result
    working_dir = os.path.dirname(local[0]) or "."
    dirs = [*(dotenv_dirs or []), working_dir]
    if not env_files and environ.get("COMPOSE_ENV_FILES"):
        # `docker compose` reads its --env-file default from COMPOSE_ENV_FILES.
        env_files = [f for f in environ["COMPOSE_ENV_FILES"].split(",") if f]
    env, env_errors = load_compose_env(local[0], env_files, environ, dotenv_dirs=dirs)
    result.errors.extend(env_errors)
    given = {os.path.normpath(k): v for k, v in (texts or {}).items()}
    project = _ComposeProject(
        env, profiles, platform, result, dockerfiles_seen, given, dockerfile_cache
    )
    try:
        model = project.load_model(local, working_dir, env, ())
        if model is not None:
            resolved = _resolve_build_paths(model, working_dir, fill_default=True)
            if isinstance(resolved, _Map):
                project.scan_model(resolved)
    except _TooLarge:
        result.errors.append(ScanError(local[0], None, "Compose project too large to merge"))
    except RecursionError:
        result.errors.append(ScanError(local[0], None, "Compose project nested too deeply to scan"))
    return dedupe(result)


def scan_compose(
    text: str | None = None,
    *,
    path: str = "compose.yaml",
    env_files: Sequence[str] | None = None,
    profiles: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = "linux/amd64",
    dockerfiles_seen: set[str] | None = None,
) -> ScanResult:
    """Scan one Compose file as ``docker compose -f PATH`` loads it.

    ``text`` is the file content (read from ``path`` when ``None``); relative build
    contexts, ``extends.file``, ``include`` and the default ``.env`` resolve against
    ``path``'s directory. ``environ`` defaults to ``os.environ``. Files Compose merges on
    its own (override files, ``COMPOSE_FILE``) are the business of
    :func:`policies.engine.scanners.discover.scan_paths`.
    """
    return scan_compose_project(
        [path],
        env_files=env_files,
        profiles=profiles,
        environ=environ,
        platform=platform,
        dockerfiles_seen=dockerfiles_seen,
        texts={path: text} if text is not None else None,
    )
