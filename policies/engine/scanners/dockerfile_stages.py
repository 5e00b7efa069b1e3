"""Find every image a Dockerfile pulls: BuildKit's stage graph (``dockerfile2llb``), ported.

The parsed instructions (``dockerfile_parser``) become stages: stage names, ``FROM`` with
global ``ARG``\\ s expanded (``shell_lexer``), ``COPY --from``, ``RUN --mount=from=``, stage
indexes, ``scratch`` and circular dependencies. Anything BuildKit would reject is reported as a
``ScanError`` carrying the file and the 1-based line of the instruction, never silently guessed
around. Every stage is scanned, not only those reachable from the default target, because any
stage can be built with ``--target`` and CI must approve all of them.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from policies.engine.scanners.dockerfile_instructions import check_instruction, platform_valid
from policies.engine.scanners.dockerfile_parser import (
    INSTRUCTIONS,
    TOKEN_WS,
    Node,
    detect_syntax,
    parse_lines,
    parse_words,
)
from policies.engine.scanners.go_quote import go_quote
from policies.engine.scanners.results import (
    ImageKind,
    ImageUse,
    ScanError,
    ScanResult,
    validate_reference,
)
from policies.engine.scanners.shell_lexer import ShellLexError, expand_word

_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_INDEX_RE = re.compile(r"[+-]?[0-9]+")
_VAR_RE = re.compile(r"\$.")


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
    parsed = parse_lines(text, path)
    errors = result.errors
    _report_frontend(detect_syntax(text) or parsed.syntax, path, build_args, result)
    errors.extend(parsed.fatal)
    if parsed.fatal:
        return
    if not parsed.nodes:
        errors.append(ScanError(path, None, "file with no instructions"))
        return
    graph = _StageGraph(path, parsed.escape, build_args, _global_env(platform, build_args), errors)
    for node in parsed.nodes:
        graph.add(node)
    if not graph.stages:
        errors.append(ScanError(path, None, "dockerfile contains no stages to build"))
        return
    graph.resolve_stage_references()
    graph.check_order()
    for use in graph.candidates:
        problem = validate_reference(use.image)
        if problem is None:
            result.images.append(use)
        else:
            errors.append(ScanError(path, use.line, problem))


def _global_env(platform: str, build_args: Mapping[str, str]) -> dict[str, str]:
    """The global scope before the first ``ARG``: automatic platform args, overridable."""
    global_env = platform_args(platform)
    for key in global_env:
        if key in build_args:
            global_env[key] = build_args[key]
    return global_env


@dataclass
class _StageGraph:
    """The stages of one Dockerfile as its instructions open and use them."""

    path: str
    escape: str
    build_args: dict[str, str]
    global_env: dict[str, str]  # the automatic args, then the ARGs before the first FROM
    errors: list[ScanError]
    stages: list[_Stage] = field(default_factory=list)
    by_name: dict[str, int] = field(default_factory=dict)
    pending: list[tuple[int, Node]] = field(default_factory=list)  # COPY/RUN with their stage
    candidates: list[ImageUse] = field(default_factory=list)

    def add(self, node: Node) -> None:
        """Check one instruction and follow it: a stage, a global ARG, a stage reference."""
        path, errors = self.path, self.errors
        if node.error:
            errors.append(ScanError(path, node.line, node.error))
            return
        cmd = node.cmd
        if cmd not in INSTRUCTIONS:
            errors.append(ScanError(path, node.line, f"unknown instruction: {cmd.upper()}"))
            return
        problem = check_instruction(node, self.escape)
        if problem:
            errors.append(ScanError(path, node.line, problem))
            if cmd != "from":
                return  # a refused FROM still opens a stage, so later lines stay in place
        if cmd == "from":
            _handle_from(
                node,
                path,
                self.escape,
                self.global_env,
                self.stages,
                self.by_name,
                self.candidates,
                errors,
            )
        elif not self.stages:
            self._before_first_stage(node)
        else:
            self._in_stage(node)

    def _before_first_stage(self, node: Node) -> None:
        if node.cmd == "arg":
            _handle_global_arg(
                node, self.path, self.escape, self.build_args, self.global_env, self.errors
            )
        else:
            self.errors.append(ScanError(self.path, node.line, "no build stage in current context"))

    def _in_stage(self, node: Node) -> None:
        cmd = node.cmd
        if cmd == "onbuild":
            _check_onbuild(node, self.path, self.errors)
            _onbuild_images(node, self.path, self.candidates)
        elif cmd in ("copy", "add") and len(_copy_args(node)) < 2:
            self.errors.append(
                ScanError(
                    self.path,
                    node.line,
                    f"{cmd.upper()} requires at least two arguments, but only one was "
                    "provided. Destination could not be determined.",
                )
            )
        elif cmd in ("copy", "run"):
            self.pending.append((len(self.stages) - 1, node))

    def resolve_stage_references(self) -> None:
        """``COPY --from`` and ``RUN --mount=from=`` see every stage, including later ones."""
        for stage_index, node in self.pending:
            if node.cmd == "copy":
                _handle_copy_from(
                    node,
                    self.path,
                    self.escape,
                    self.global_env,
                    self.stages,
                    self.by_name,
                    stage_index,
                    self.candidates,
                    self.errors,
                )
            else:
                _handle_run_mounts(
                    node,
                    self.path,
                    self.stages,
                    self.by_name,
                    stage_index,
                    self.candidates,
                    self.errors,
                )

    def check_order(self) -> None:
        """A circular dependency, else every use of a stage before its definition."""
        cycle = _find_cycle(self.stages)
        if cycle is not None:
            stage, line = cycle
            label = stage.name or f"stage-{stage.index}"
            self.errors.append(
                ScanError(self.path, line, f"circular dependency detected on stage: {label}")
            )
            return
        for stage in self.stages:
            self.errors.extend(
                ScanError(self.path, line, message) for line, message in stage.too_early
            )


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


def _copy_args(node: Node) -> list[str]:
    if node.is_json:
        try:
            value = json.loads(node.rest)
        except ValueError:
            return []
        return [item for item in value if isinstance(item, str)]
    return [word for word in TOKEN_WS.split(node.rest) if word]


def _handle_global_arg(
    node: Node,
    path: str,
    escape: str,
    build_args: Mapping[str, str],
    global_env: dict[str, str],
    errors: list[ScanError],
) -> None:
    words = parse_words(node.rest, escape)
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
    node: Node,
    path: str,
    escape: str,
    global_env: Mapping[str, str],
    stages: list[_Stage],
    by_name: dict[str, int],
    candidates: list[ImageUse],
    errors: list[ScanError],
) -> None:
    args = [word for word in TOKEN_WS.split(node.rest) if word] if node.rest else []
    index = len(stages)
    stage_name = ""
    if len(args) == 3 and args[1].lower() == "as":
        stage_name = args[2].lower()
        if not _STAGE_NAME.fullmatch(stage_name):
            errors.append(
                ScanError(
                    path,
                    node.line,
                    f"invalid name for build stage: {go_quote(args[2])}, "
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
        elif not platform_valid(expanded):
            errors.append(
                ScanError(
                    path,
                    node.line,
                    f"failed to parse platform {value}: {go_quote(expanded)}: "
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
    node: Node,
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
                f"cannot copy from stage {go_quote(source)}, it needs to be defined before "
                f"current stage {go_quote(current)}",
            )
        )
    stage.deps.append((target, node.line))


def _handle_run_mounts(
    node: Node,
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
                    f"cannot mount from stage {go_quote(source)} to "
                    f"{go_quote(_mount_target(value))}, stage needs to be defined before "
                    "current command",
                )
            )
        if named is not None:
            stage.deps.append((named, node.line))
        elif source != "scratch":
            candidates.append(ImageUse(source, path, node.line, "mount-from"))


def _onbuild_images(node: Node, path: str, candidates: list[ImageUse]) -> None:
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


def _check_onbuild(node: Node, path: str, errors: list[ScanError]) -> None:
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
