"""Find every image a Compose project pulls, interpolating exactly as Compose does.

What counts as a pull:

* ``services.<name>.image`` (kind ``compose``), line of the ``image:`` value;
* for a service with ``build`` and no ``image``: every image its Dockerfile pulls, scanned by
  :func:`policies.scan.dockerfile.scan_dockerfile` with the service's ``build.args`` (a
  ``dockerfile_inline`` is scanned too, with lines counted in the Compose file);
* ``build.additional_contexts`` given as ``docker-image://IMAGE`` (kind ``compose``).

Interpolation is a port of compose-go's ``template`` package (``$VAR``, ``${VAR}``,
``${VAR:-d}``, ``${VAR-d}``, ``${VAR:?msg}``, ``${VAR?msg}``, ``${VAR:+alt}``, ``${VAR+alt}``,
``$$`` and nested defaults) applied to every string value of the file, so a required
variable missing anywhere is reported as Compose would fail on it. Variables come from, in
increasing priority: the explicit env files (later wins) -- or, when none is given, the
``.env`` file beside the Compose file -- then the process environment. Dotenv files follow
compose-go's parser (comments, ``export``, single/double quotes, escapes, ``${...}``).

``extends`` is followed within the same file and into other files (``extends.file``);
``include`` entries are scanned as separate projects. By default every service is scanned;
``profiles`` restricts the scan to services without profiles plus those in the given
profiles (``*`` selects all). Never raises for any input: problems become :class:`ScanError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import yaml

from policies.scan.dockerfile import (
    ImageUse,
    ScanError,
    ScanResult,
    scan_dockerfile,
    validate_reference,
)

__all__ = [
    "DotenvError",
    "InterpolationError",
    "load_compose_env",
    "parse_dotenv",
    "scan_compose",
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
                f"Invalid template: {_go_quote(template)}", invalid_template=template
            )
        if braced and operator is not None and operator in substitution:
            value = _apply_operator(operator, substitution, lookup)
            return value + substitute(rest, lookup)
        return lookup(substitution) or ""

    return _TEMPLATE.sub(replace, template)


def _go_quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


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
            raise DotenvError(self.line, f"unexpected character {_go_quote(ch)} in variable name")
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


def load_compose_env(
    compose_path: str,
    env_files: Sequence[str] | None,
    environ: Mapping[str, str],
) -> tuple[dict[str, str], list[ScanError]]:
    """The variables Compose interpolates with, and errors reading the env files.

    Explicit ``env_files`` replace the default ``.env`` beside ``compose_path`` (as
    ``docker compose --env-file`` does); the process ``environ`` always wins.
    """
    errors: list[ScanError] = []
    env: dict[str, str] = {}
    files = list(env_files or [])
    if not files:
        default = os.path.join(os.path.dirname(compose_path) or ".", ".env")
        if os.path.isfile(default):
            files = [default]
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
            env.update(parse_dotenv(text, lookup))
        except DotenvError as exc:
            errors.append(ScanError(env_file, exc.line, exc.message))
    env.update(environ)
    return env, errors


# --------------------------------------------------------------------------------------
# YAML with line numbers.
# --------------------------------------------------------------------------------------

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Str(str):
    """A YAML string value that remembers its 1-based line and interpolation failure."""

    line: int
    failed: bool


class _Map(dict[str, object]):
    """A YAML mapping remembering its own line and the line of each key."""

    line: int
    key_lines: dict[str, int]


class _Seq(list[object]):
    """A YAML sequence remembering its line."""

    line: int


class _Fail(Exception):
    """Stops loading one file; the error has already been recorded."""


class _Converter:
    """Turns composed YAML nodes into located Python values, interpolating strings."""

    def __init__(self, path: str, env: Mapping[str, str], errors: list[ScanError]) -> None:
        self.path = path
        self.env = env
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
            if isinstance(node, yaml.MappingNode):
                value: object = self._mapping(node, where)
            elif isinstance(node, yaml.SequenceNode):
                seq = _Seq(self.convert(item, f"{where}[{i}]") for i, item in enumerate(node.value))
                seq.line = node.start_mark.line + 1
                value = seq
            else:
                value = self._scalar(node, where)
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
        if node.tag == _STR_TAG and "$" in text:
            try:
                text = substitute(text, self.lookup)
            except InterpolationError as exc:
                failed = True
                if exc.invalid_template is not None:
                    message = (
                        f"invalid interpolation format for {where}: "
                        f"{_go_quote(exc.invalid_template)}; "
                        "you may need to escape any $ with another $"
                    )
                else:
                    message = f"error while interpolating {where}: {exc}"
                self.errors.append(ScanError(self.path, line, message))
        out = _Str(text)
        out.line = line
        out.failed = failed
        return out

    def _mapping(self, node: yaml.MappingNode, where: str) -> _Map:
        out = _Map()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
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
            out[name] = self.convert(value_node, child)
            out.key_lines[name] = key_node.start_mark.line + 1
        # Explicit keys win over merged ones; earlier merge sources win over later ones.
        for source in merged:
            for name, value in source.items():
                if name not in out:
                    out[name] = value
                    out.key_lines[name] = source.key_lines.get(name, source.line)
        return out


def _yaml_error(path: str, exc: Exception) -> ScanError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    return ScanError(path, line, "invalid YAML: " + " ".join(str(exc).split()))


def _load(
    text: str, path: str, env: Mapping[str, str], errors: list[ScanError]
) -> tuple[bool, object]:
    """Parse and interpolate one Compose file; (False, None) if it could not be loaded."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        errors.append(_yaml_error(path, exc))
        return False, None
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:
        errors.append(ScanError(path, None, f"invalid YAML: {exc}"))
        return False, None
    if node is None:
        return True, None
    try:
        return True, _Converter(path, env, errors).convert(node, "")
    except _Fail:
        return False, None
    except RecursionError:
        errors.append(ScanError(path, None, "YAML nested too deeply to scan"))
        return False, None


# --------------------------------------------------------------------------------------
# Services.
# --------------------------------------------------------------------------------------

_REMOTE_CONTEXT = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/)", re.IGNORECASE)
_DOCKER_IMAGE_PREFIX = "docker-image://"


@dataclass
class _Build:
    file: str  # compose file the build section came from
    line: int
    context: str  # absolute-ish (joined with the compose dir) or remote URL
    remote: bool
    dockerfile: str | None = None
    inline: _Str | None = None
    args: dict[str, str] = field(default_factory=dict)
    extra_images: list[_Str] = field(default_factory=list)


@dataclass
class _Service:
    name: str
    file: str
    line: int
    image: _Str | None = None
    image_file: str = ""
    build: _Build | None = None
    profiles: list[str] = field(default_factory=list)
    platform: str | None = None


def _merge_builds(base: _Build | None, own: _Build | None) -> _Build | None:
    if base is None or own is None:
        return own or base
    # Compose merges build mappings key by key; the extending service's keys win.
    args = dict(base.args)
    args.update(own.args)
    return _Build(
        file=own.file,
        line=own.line,
        context=own.context,
        remote=own.remote,
        dockerfile=own.dockerfile if own.dockerfile is not None else base.dockerfile,
        inline=own.inline if own.inline is not None else base.inline,
        args=args,
        extra_images=base.extra_images + own.extra_images,
    )


class _ComposeScanner:
    def __init__(
        self,
        env: Mapping[str, str],
        profiles: Sequence[str] | None,
        platform: str,
        result: ScanResult,
        dockerfiles_seen: set[str] | None,
    ) -> None:
        self.env = env
        self.environ: Mapping[str, str] = os.environ
        self.profiles = set(profiles or [])
        self.platform = platform
        self.result = result
        self.dockerfiles_seen = dockerfiles_seen
        self.docs: dict[str, object] = {}
        self.resolved: dict[tuple[str, str], _Service | None] = {}
        self.dockerfile_scans: dict[tuple[str, tuple[tuple[str, str], ...], str], ScanResult] = {}
        self.dockerfile_texts: dict[str, str | OSError] = {}

    # ---- loading -------------------------------------------------------------------

    def error(self, file: str, line: int | None, message: str) -> None:
        self.result.errors.append(ScanError(file, line, message))

    def load(self, path: str, text: str | None = None) -> object:
        key = os.path.normpath(path)
        if key in self.docs:
            return self.docs[key]
        if text is None:
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError as exc:
                self.error(path, None, f"cannot read compose file: {exc.strerror}")
                self.docs[key] = None
                return None
        loaded, doc = _load(text, path, self.env, self.result.errors)
        if loaded and doc is None:
            self.error(path, None, "empty compose file")
        elif loaded and not isinstance(doc, _Map):
            self.error(path, 1, "top-level object must be a mapping")
            doc = None
        self.docs[key] = doc
        return doc

    def services_of(self, path: str, doc: object) -> _Map | None:
        if not isinstance(doc, _Map):
            return None
        services = doc.get("services")
        if services is None:
            return None
        if not isinstance(services, _Map):
            self.error(path, doc.key_lines.get("services"), "services must be a mapping")
            return None
        return services

    # ---- service definitions ---------------------------------------------------------

    def parse_build(self, path: str, name: str, raw: object, line: int) -> _Build | None:
        base_dir = os.path.dirname(path)
        if isinstance(raw, str):
            context_text, spec = raw, None
        elif isinstance(raw, _Map):
            context = raw.get("context", ".")
            context_text = context if isinstance(context, str) else "."
            spec = raw
        else:
            self.error(path, line, f"services.{name}.build must be a string or a mapping")
            return None
        remote = bool(_REMOTE_CONTEXT.match(context_text))
        build = _Build(
            file=path,
            line=line,
            context=context_text
            if remote
            else os.path.normpath(os.path.join(base_dir, context_text)),
            remote=remote,
        )
        if spec is None:
            return build
        dockerfile = spec.get("dockerfile")
        if isinstance(dockerfile, str):
            build.dockerfile = dockerfile
        inline = spec.get("dockerfile_inline")
        if isinstance(inline, _Str):
            build.inline = inline
        build.args = self.parse_args(path, name, spec.get("args"), line)
        contexts = spec.get("additional_contexts")
        values: list[object] = []
        if isinstance(contexts, _Map):
            values = list(contexts.values())
        elif isinstance(contexts, _Seq):
            values = [
                _located(item.partition("=")[2], item)
                for item in contexts
                if isinstance(item, _Str)
            ]
        for value in values:
            if isinstance(value, _Str) and value.startswith(_DOCKER_IMAGE_PREFIX):
                build.extra_images.append(value)
        return build

    def parse_args(self, path: str, name: str, raw: object, line: int) -> dict[str, str]:
        args: dict[str, str] = {}
        if raw is None:
            return args
        if isinstance(raw, _Map):
            for key, value in raw.items():
                if value is None:
                    found = self.env.get(key)  # no value: inherited from the environment
                    if found is not None:
                        args[key] = found
                elif isinstance(value, str):
                    args[key] = str(value)
                else:
                    self.error(
                        path, raw.key_lines.get(key, line), f"build arg {key} must be a scalar"
                    )
        elif isinstance(raw, _Seq):
            for item in raw:
                if not isinstance(item, str):
                    self.error(path, line, f"services.{name}.build.args items must be strings")
                    continue
                key, sep, value = item.partition("=")
                if sep:
                    args[key] = value
                else:
                    found = self.env.get(key)
                    if found is not None:
                        args[key] = found
        else:
            self.error(path, line, f"services.{name}.build.args must be a mapping or a list")
        return args

    def own_fields(self, path: str, name: str, spec: _Map) -> _Service:
        service = _Service(name=name, file=path, line=spec.line)
        image = spec.get("image")
        if image is not None:
            if isinstance(image, _Str):
                service.image = image
                service.image_file = path
            else:
                self.error(
                    path,
                    spec.key_lines.get("image", spec.line),
                    f"services.{name}.image must be a string",
                )
        if "build" in spec:
            service.build = self.parse_build(
                path, name, spec.get("build"), spec.key_lines.get("build", spec.line)
            )
        profiles = spec.get("profiles")
        if isinstance(profiles, _Seq):
            service.profiles = [str(p) for p in profiles if isinstance(p, str)]
        platform = spec.get("platform")
        if isinstance(platform, str) and platform:
            service.platform = str(platform)
        return service

    def resolve(
        self, path: str, services: _Map, name: str, stack: tuple[tuple[str, str], ...] = ()
    ) -> _Service | None:
        key = (os.path.normpath(path), name)
        if key in self.resolved:
            return self.resolved[key]
        spec = services.get(name)
        if spec is None:  # `web:` with nothing under it is an empty service definition
            spec = _Map()
            spec.line = services.key_lines.get(name, services.line)
            spec.key_lines = {}
        if not isinstance(spec, _Map):
            self.error(path, services.key_lines.get(name), f"service {name} must be a mapping")
            self.resolved[key] = None
            return None
        if key in stack:
            self.error(path, spec.line, f"circular reference with extends in service {name}")
            return None
        own = self.own_fields(path, name, spec)
        extends = spec.get("extends")
        if extends is None:
            self.resolved[key] = own
            return own
        line = spec.key_lines.get("extends", spec.line)
        base_name: object
        base_file: object = None
        if isinstance(extends, str):
            base_name = extends
        elif isinstance(extends, _Map):
            base_name = extends.get("service")
            base_file = extends.get("file")
        else:
            base_name = None
        if not isinstance(base_name, str) or not base_name:
            self.error(path, line, f"services.{name}.extends needs a service name")
            self.resolved[key] = own
            return own
        base_path = path
        base_services: _Map | None = services
        if base_file is not None:
            if not isinstance(base_file, str):
                self.error(path, line, f"services.{name}.extends.file must be a string")
                self.resolved[key] = own
                return own
            base_path = os.path.normpath(os.path.join(os.path.dirname(path), base_file))
            base_services = self.services_of(base_path, self.load(base_path))
        if base_services is None or base_name not in base_services:
            self.error(
                path,
                line,
                f"cannot extend service {base_name!r} in {base_path}: service not found",
            )
            self.resolved[key] = own
            return own
        base = self.resolve(base_path, base_services, base_name, (*stack, key))
        merged = own
        if base is not None:
            merged = _Service(
                name=name,
                file=path,
                line=own.line,
                image=own.image if own.image is not None else base.image,
                image_file=own.image_file if own.image is not None else base.image_file,
                build=_merge_builds(base.build, own.build),
                profiles=own.profiles or base.profiles,
                platform=own.platform or base.platform,
            )
        self.resolved[key] = merged
        return merged

    # ---- scanning ------------------------------------------------------------------

    def selected(self, service: _Service) -> bool:
        if not self.profiles or "*" in self.profiles or not service.profiles:
            return True
        return bool(self.profiles.intersection(service.profiles))

    def scan(self, path: str, text: str | None, include_stack: tuple[str, ...]) -> None:
        doc = self.load(path, text)
        if isinstance(doc, _Map):
            self.scan_includes(path, doc, include_stack)
        services = self.services_of(path, doc)
        if services is None:
            return
        for name in list(services):
            service = self.resolve(path, services, name)
            if service is None or not self.selected(service):
                continue
            self.scan_service(service)

    def scan_includes(self, path: str, doc: _Map, include_stack: tuple[str, ...]) -> None:
        include = doc.get("include")
        if include is None:
            return
        line = doc.key_lines.get("include")
        if not isinstance(include, _Seq):
            self.error(path, line, "include must be a list")
            return
        for entry in include:
            paths: list[object] = []
            if isinstance(entry, str):
                paths = [entry]
            elif isinstance(entry, _Map):
                value = entry.get("path")
                paths = list(value) if isinstance(value, _Seq) else [value]
            for item in paths:
                if not isinstance(item, str):
                    self.error(path, line, "include entries need a path")
                    continue
                target = os.path.normpath(os.path.join(os.path.dirname(path), item))
                if target in include_stack:
                    self.error(path, line, f"include cycle through {target}")
                    continue
                # An included file is its own project: its own .env, same process env.
                sub = scan_compose(
                    path=target,
                    profiles=sorted(self.profiles) or None,
                    environ=self.environ,
                    platform=self.platform,
                    dockerfiles_seen=self.dockerfiles_seen,
                    _include_stack=(*include_stack, target),
                )
                self.result.extend(sub)

    def scan_service(self, service: _Service) -> None:
        if service.image is not None:
            image = service.image
            if image.failed:
                return  # the interpolation error is already reported
            if image == "":
                self.error(service.image_file, image.line, f"service {service.name}: empty image")
                return
            problem = validate_reference(str(image))
            if problem is not None:
                self.error(service.image_file, image.line, problem)
            else:
                self.result.images.append(
                    ImageUse(str(image), service.image_file, image.line, "compose")
                )
            return
        build = service.build
        if build is None:
            self.error(
                service.file,
                service.line,
                f"service {service.name!r} has neither an image nor a build context specified",
            )
            return
        self.scan_build(service, build)

    def scan_build(self, service: _Service, build: _Build) -> None:
        for extra in build.extra_images:
            image = str(extra)[len(_DOCKER_IMAGE_PREFIX) :]
            problem = validate_reference(image)
            if problem is not None:
                self.error(build.file, extra.line, problem)
            else:
                self.result.images.append(ImageUse(image, build.file, extra.line, "compose"))
        platform = service.platform or self.platform
        if build.inline is not None:
            inline = build.inline
            scanned = scan_dockerfile(
                str(inline), path=build.file, build_args=build.args, platform=platform
            )
            # Block scalars start on the line after the `dockerfile_inline: |` key.
            offset = inline.line if "\n" in inline else inline.line - 1
            for use in scanned.images:
                self.result.images.append(
                    ImageUse(use.image, build.file, use.line + offset, use.kind)
                )
            for err in scanned.errors:
                self.result.errors.append(
                    ScanError(
                        build.file, None if err.line is None else err.line + offset, err.message
                    )
                )
            return
        if build.remote:
            self.error(
                build.file,
                build.line,
                f"remote build context {build.context!r} cannot be scanned",
            )
            return
        dockerfile = build.dockerfile or "Dockerfile"
        df_path = os.path.normpath(os.path.join(build.context, dockerfile))
        cache_key = (df_path, tuple(sorted(build.args.items())), platform)
        scanned_or_none = self.dockerfile_scans.get(cache_key)
        if scanned_or_none is None:
            text = self.dockerfile_texts.get(df_path)
            if text is None:
                try:
                    with open(df_path, encoding="utf-8", errors="replace") as handle:
                        text = handle.read()
                except OSError as exc:
                    text = exc
                self.dockerfile_texts[df_path] = text
            if isinstance(text, OSError):
                self.error(
                    build.file, build.line, f"cannot read Dockerfile {df_path}: {text.strerror}"
                )
                return
            scanned_or_none = scan_dockerfile(
                text, path=df_path, build_args=build.args, platform=platform
            )
            self.dockerfile_scans[cache_key] = scanned_or_none
        if self.dockerfiles_seen is not None:
            self.dockerfiles_seen.add(os.path.abspath(df_path))
        self.result.extend(scanned_or_none)


def _located(value: str, origin: _Str) -> _Str:
    out = _Str(value)
    out.line = origin.line
    out.failed = origin.failed
    return out


def dedupe(result: ScanResult) -> ScanResult:
    """Drop repeated image uses and errors (same Dockerfile built by several services)."""
    images = list(dict.fromkeys(result.images))
    errors = list(dict.fromkeys(result.errors))
    return ScanResult(images=images, errors=errors)


def scan_compose(
    text: str | None = None,
    *,
    path: str = "compose.yaml",
    env_files: Sequence[str] | None = None,
    profiles: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    platform: str = "linux/amd64",
    dockerfiles_seen: set[str] | None = None,
    _include_stack: tuple[str, ...] = (),
) -> ScanResult:
    """Scan a Compose file and return every image its services pull.

    ``text`` is the file content (read from ``path`` when ``None``); relative build
    contexts, ``extends.file``, ``include`` and the default ``.env`` resolve against
    ``path``'s directory. ``environ`` defaults to ``os.environ``. ``dockerfiles_seen``, if
    given, collects the absolute paths of the Dockerfiles scanned for ``build`` services.
    """
    environ = os.environ if environ is None else environ
    result = ScanResult()
    env, env_errors = load_compose_env(path, env_files, environ)
    result.errors.extend(env_errors)
    scanner = _ComposeScanner(env, profiles, platform, result, dockerfiles_seen)
    scanner.environ = environ
    scanner.scan(path, text, _include_stack or (os.path.normpath(path),))
    return dedupe(result)
