"""pip requirements files, read the way pip reads them.

Order of processing follows pip: physical lines are joined at backslash continuations (a
comment-only line never continues), comments are removed, then ``${VAR}`` references with
upper-case names are expanded from the caller's mapping (unknown ones are left as written).
A logical line is then either an options line (``-r``, ``-c``, ``--index-url`` ...) or a
requirement with optional per-line options (``--hash``, ``--config-settings``).

Everything is normalised here, once: requirements are ``packaging`` objects; downstream code
never re-parses strings.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, NormalizedName, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from lockaudit.errors import InputError, Location
from lockaudit.parsing import pep508, pyproject
from lockaudit.workspace.model import normalize

__all__ = [
    "IndexOptions",
    "RequirementLine",
    "RequirementsFile",
    "is_direct_url",
    "is_local_path",
    "parse_requirement_string",
    "parse_requirements",
    "parse_requirements_text",
    "read_text",
    "split_lines",
]

_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")  # pip expands only this form
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^file:")
_VCS_PREFIX = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
_EGG = re.compile(r"[#&]egg=([^&]+)")
_NAMED_URL = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@")
_HASH = re.compile(r"^(sha256|sha384|sha512):[0-9a-fA-F]+$")


@dataclass(frozen=True)
class RequirementLine:
    """One requirement as written in a file (or on a ``pip install`` command line)."""

    requirement: Requirement  # for VCS/URL lines: the name and the url
    location: Location
    hashes: tuple[str, ...] = ()  # "sha256:<hex>"
    editable: bool = False
    constraint: bool = False  # True when it came from a -c file
    raw: str = ""  # the logical line as written (after joining continuations)
    options: tuple[str, ...] = ()  # --config-settings / --global-option, kept raw
    name: NormalizedName = field(init=False, repr=False, compare=False)  # the canonical name

    def __post_init__(self) -> None:
        # Most rules ask every line for its name, several times: canonicalised once.
        object.__setattr__(self, "name", normalize(self.requirement.name))

    @property
    def pinned_version(self) -> Version | None:
        """The version when the specifier is exactly one ``==X``/``===X`` without wildcard."""
        specs = list(self.requirement.specifier)
        if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
            return None
        try:
            return Version(specs[0].version)
        except InvalidVersion:
            return None  # `===` allows arbitrary strings


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from, as the file's option lines say (the last --index-url wins)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False
    prefer_binary: bool = False
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequirementsFile:
    path: str
    requirements: tuple[RequirementLine, ...]  # from this file and its -r includes, in order
    constraints: tuple[RequirementLine, ...]  # from -c files (transitively)
    options: IndexOptions
    includes: tuple[str, ...]  # every file read, this one first (workspace-relative)
    # Direct references that do not say their project name (`git+https://…`, `./pkg`,
    # `-e .`), with their line: pip learns the name by building, lockaudit never does.
    unnamed: tuple[tuple[str, Location], ...] = ()


# -- reading text -------------------------------------------------------------------------------


def read_text(root: Path, path: str, *, included_from: Location | None = None) -> str:
    """The UTF-8 text of a workspace file (BOM stripped); errors name the file, or the line
    that included it when ``included_from`` is given."""
    where = included_from or Location(path, 0)
    try:
        data = (root / path).read_bytes()
    except FileNotFoundError:
        raise InputError(where, f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(where, f"is a directory, not a file: {path}") from None
    except OSError as e:
        raise InputError(where, f"cannot read {path}: {e.strerror}") from None
    return decode_text(data, path)


def decode_text(data: bytes, path: str) -> str:
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise InputError(Location(path, line), "binary file (NUL byte), expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputError(
            Location(path, line), f"not UTF-8 text (byte 0x{data[e.start]:02x})"
        ) from None


def split_lines(text: str) -> list[str]:
    """Physical lines; CRLF and lone CR end lines too, other Unicode breaks do not."""
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# -- logical lines ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Logical:
    line: int
    text: str  # comments removed, variables expanded, stripped
    raw: str  # as written, continuations joined


def _logical_lines(text: str, path: str, env: Mapping[str, str]) -> Iterator[_Logical]:
    start = 0
    parts: list[str] = []
    lines = split_lines(text)
    for number, line in enumerate(lines, start=1):
        if not parts:
            start = number
        # A comment-only line ends a continuation and never continues itself.
        if _COMMENT.match(line) or not line.endswith("\\"):
            parts.append(line)
            yield _finish(start, "".join(parts), env)
            parts = []
        else:
            parts.append(line[:-1])
    if parts:
        raise InputError(
            Location(path, start), "backslash continuation at end of file has no next line"
        )


def _finish(line: int, raw: str, env: Mapping[str, str]) -> _Logical:
    cleaned = _COMMENT.sub("", raw).strip()
    expanded = _ENV_VAR.sub(lambda m: env.get(m.group(1), m.group(0)), cleaned)
    return _Logical(line, expanded, raw.strip())


# -- options ------------------------------------------------------------------------------------

# canonical name → takes a value
_FILE_OPTIONS: dict[str, bool] = {
    "--requirement": True,
    "--constraint": True,
    "--editable": True,
    "--index-url": True,
    "--extra-index-url": True,
    "--find-links": True,
    "--no-index": False,
    "--pre": False,
    "--prefer-binary": False,
    "--only-binary": True,
    "--no-binary": True,
    "--trusted-host": True,
}
_LINE_OPTIONS: dict[str, bool] = {
    "--hash": True,
    "--config-settings": True,
    "--global-option": True,
}
_SHORT = {
    "-r": "--requirement",
    "-c": "--constraint",
    "-e": "--editable",
    "-i": "--index-url",
    "-f": "--find-links",
    "-C": "--config-settings",
}


def _parse_options(
    words: list[str], allowed: Mapping[str, bool], location: Location
) -> list[tuple[str, str]]:
    """``(canonical option, value)`` pairs; a flag's value is ``""``. optparse rules: ``--x=v``,
    ``--x v``, ``-xv``, ``-x v``; unknown options are errors."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        value: str | None = None
        if word.startswith("--"):
            name, eq, inline = word.partition("=")
            value = inline if eq else None
        elif word.startswith("-") and len(word) >= 2:
            name = _SHORT.get(word[:2], word[:2])
            value = word[2:] or None
        else:
            raise InputError(location, f"unexpected argument '{word}' on an options line")
        if name not in allowed:
            raise InputError(
                location,
                f"unknown option '{word.partition('=')[0]}'",
                hint="pip accepts only some options in requirements files",
            )
        if allowed[name]:
            if value is None:
                if i >= len(words):
                    raise InputError(location, f"option '{word}' needs a value")
                value = words[i]
                i += 1
        elif value is not None:
            raise InputError(location, f"option '{name}' takes no value")
        out.append((name, value or ""))
    return out


_PLAIN = re.compile(r"[\x21\x23-\x26\x28-\x5b\x5d-\x7e \t]*")  # printable, no quotes or \\


def _shell_words(text: str, location: Location) -> list[str]:
    if _PLAIN.fullmatch(text):
        # Without quotes or backslashes shlex splits on blanks only: skip its per-character
        # state machine (locks have thousands of `--hash=` lines; `check` must stay fast).
        return text.split()
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError as e:
        raise InputError(location, f"cannot split options: {e}") from None


# -- requirement strings ------------------------------------------------------------------------


def is_local_path(text: str) -> bool:
    """True for an argument pip would treat as a local directory or archive (``.``,
    ``./pkg``, ``/src/pkg``, ``dist/x-1.0-py3-none-any.whl``) rather than a requirement."""
    if _URL_SCHEME.match(text) or _VCS_PREFIX.match(text) or _NAMED_URL.match(text):
        return False
    head = text.split(";", 1)[0].strip()
    head = re.sub(r"\[[^\]]*\]$", "", head)  # `.[extra]`: the project here, with extras
    return (
        head in (".", "..")
        or head.startswith(("./", "../", "/", "~"))
        or "/" in head
        or head.endswith((".whl", ".tar.gz", ".zip", ".tar.bz2"))
    )


def is_direct_url(text: str) -> bool:
    """A URL or VCS reference (``https://…``, ``git+https://…``, ``file:…``), not a name."""
    if _VCS_PREFIX.match(text):
        return bool(_URL_SCHEME.match(text[text.index("+") + 1 :]))
    return bool(_URL_SCHEME.match(text))


def parse_requirement_string(text: str, location: Location) -> RequirementLine:
    """One requirement (PEP 508, ``name @ url``, a VCS or archive URL with ``#egg=``)."""
    return _requirement(text.strip(), location, raw=text.strip())


def _requirement(
    text: str, location: Location, *, raw: str, editable: bool = False
) -> RequirementLine:
    try:
        requirement = _to_requirement(text)
    except InvalidRequirement as e:
        reason = str(e).splitlines()[0] if str(e) else "not a PEP 508 requirement"
        raise InputError(location, f"invalid requirement '{text}': {reason}") from None
    return RequirementLine(requirement, location, editable=editable, raw=raw)


def _to_requirement(text: str) -> Requirement:
    if not text:
        raise InvalidRequirement("empty requirement")
    url, sep, marker = text.partition(" ;")
    if not (_URL_SCHEME.match(url) or _VCS_PREFIX.match(url) or is_local_path(url)):
        return pep508.requirement(text)
    # A bare URL or path: the name comes from `#egg=` or a wheel's file name.
    url = url.strip()
    if _VCS_PREFIX.match(url) and not _URL_SCHEME.match(url[url.index("+") + 1 :]):
        raise InvalidRequirement("a VCS requirement needs a URL such as git+https://...")
    name = _name_of_link(url)
    if name is None:
        raise InvalidRequirement(
            "cannot tell the project name; add '#egg=name' or write 'name @ url'"
        )
    return Requirement(f"{name} @ {url}{sep and ' ;' + marker}")


def _name_of_link(url: str) -> str | None:
    egg = _EGG.search(url)
    if egg:
        return egg.group(1)
    filename = url.split("#", 1)[0].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if filename.endswith(".whl"):
        try:
            return str(parse_wheel_filename(filename)[0])
        except InvalidWheelFilename:
            return None
    return None


def _requirement_line(logical: _Logical, location: Location) -> RequirementLine:
    # pip splits at the first blank-separated token that starts with `-`: the rest are options.
    tokens = logical.text.split(" ")
    cut = next((i for i, t in enumerate(tokens) if t.startswith("-")), len(tokens))
    spec = " ".join(tokens[:cut]).strip()
    options = _parse_options(
        _shell_words(" ".join(tokens[cut:]), location), _LINE_OPTIONS, location
    )
    line = _requirement(spec, location, raw=logical.raw)
    return _with_line_options(line, options, location)


def _with_line_options(
    line: RequirementLine, options: list[tuple[str, str]], location: Location
) -> RequirementLine:
    hashes: list[str] = []
    kept: list[str] = []
    for name, value in options:
        if name == "--hash":
            if not _HASH.match(value):
                raise InputError(location, f"invalid --hash '{value}': expected sha256:<hex>")
            algo, _, digest = value.partition(":")
            hashes.append(f"{algo}:{digest.lower()}")
        else:
            kept.append(f"{name}={value}")
    return replace(line, hashes=tuple(hashes), options=tuple(kept))


# -- files --------------------------------------------------------------------------------------


class _Told(InputError):
    """An error from an included file that is safe to show as it is (it echoes no line)."""


@dataclass
class _Collector:
    root: Path | None
    env: Mapping[str, str]
    requirements: list[RequirementLine] = field(default_factory=list)
    constraints: list[RequirementLine] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    options: IndexOptions = field(default_factory=IndexOptions)
    unnamed: list[tuple[str, Location]] = field(default_factory=list)

    def read(self, text: str, path: str, *, constraint: bool, stack: tuple[str, ...]) -> None:
        if path not in self.includes:
            self.includes.append(path)
        for logical in _logical_lines(text, path, self.env):
            if not logical.text:
                continue
            location = Location(path, logical.line)
            if logical.text.startswith("-"):
                self.option_line(logical, location, constraint=constraint, stack=stack)
            else:
                try:
                    line = _requirement_line(logical, location)
                except InputError:
                    if not self.nameless(logical.text.split(" ")[0], location):
                        raise
                    continue
                self.add(line, constraint=constraint)

    def nameless(self, spec: str, location: Location) -> bool:
        """Keep a direct reference whose name cannot be told (True), else let it fail."""
        if not (is_direct_url(spec) or is_local_path(spec)):
            return False
        self.unnamed.append((spec, location))
        return True

    def add(self, line: RequirementLine, *, constraint: bool) -> None:
        if constraint:
            self.constraints.append(replace(line, constraint=True))
        else:
            self.requirements.append(line)

    def option_line(
        self, logical: _Logical, location: Location, *, constraint: bool, stack: tuple[str, ...]
    ) -> None:
        words = _shell_words(logical.text, location)
        allowed = {**_FILE_OPTIONS, **_LINE_OPTIONS}
        options = _parse_options(words, allowed, location)
        editable = [value for name, value in options if name == "--editable"]
        if editable:
            try:
                line = _requirement(editable[0], location, raw=logical.raw, editable=True)
            except InputError:
                if not self.nameless(editable[0], location):
                    raise
                return
            rest = [(n, v) for n, v in options if n != "--editable"]
            self.add(_with_line_options(line, rest, location), constraint=constraint)
            return
        for name, value in options:
            if name in _LINE_OPTIONS:
                raise InputError(location, f"option '{name}' belongs on a requirement line")
            if name in ("--requirement", "--constraint"):
                self.include(
                    value, location, constraint=constraint or name == "--constraint", stack=stack
                )
            else:
                self.options = _apply_option(self.options, name, value)

    def include(
        self, target: str, location: Location, *, constraint: bool, stack: tuple[str, ...]
    ) -> None:
        try:
            self._include(target, location, constraint=constraint, stack=stack)
        except _Told:
            raise
        except InputError as e:  # names paths, never content: pass it through includers as is
            raise _Told(e.location, e.message, hint=e.hint) from None

    def _include(
        self, target: str, location: Location, *, constraint: bool, stack: tuple[str, ...]
    ) -> None:
        if _URL_SCHEME.match(target):
            raise InputError(location, f"remote requirement files are not supported: {target}")
        if self.root is None:
            raise InputError(
                location,
                f"cannot read included file '{target}' without a workspace root",
                hint="use parse_requirements(root, path) to follow -r/-c",
            )
        path = posixpath.normpath(posixpath.join(posixpath.dirname(location.path), target))
        if path in stack:
            cycle = " -> ".join((*stack[stack.index(path) :], path))
            raise InputError(location, f"include cycle: {cycle}")
        text = read_text(self.root, path, included_from=location)
        try:
            self.read(text, path, constraint=constraint, stack=(*stack, path))
        except _Told:
            raise
        except InputError as e:
            # `-r` can name any readable file (`-r /etc/shadow`): say where, never echo a line.
            raise _Told(
                e.location,
                f"not a valid requirements line (in a file included from {location}; "
                "its content is not shown)",
            ) from None


def _apply_option(options: IndexOptions, name: str, value: str) -> IndexOptions:
    match name:
        case "--index-url":
            return replace(options, index_url=value)
        case "--extra-index-url":
            return replace(options, extra_index_urls=(*options.extra_index_urls, value))
        case "--find-links":
            return replace(options, find_links=(*options.find_links, value))
        case "--no-index":
            return replace(options, no_index=True)
        case "--pre":
            return replace(options, pre=True)
        case "--prefer-binary":
            return replace(options, prefer_binary=True)
        case "--only-binary":
            return replace(options, only_binary=(*options.only_binary, value))
        case "--no-binary":
            return replace(options, no_binary=(*options.no_binary, value))
        case "--trusted-host":
            return replace(options, trusted_hosts=(*options.trusted_hosts, value))
    raise AssertionError(name)  # every allowed option is handled above


def parse_requirements(
    root: Path, path: str, *, env: Mapping[str, str] | None = None
) -> RequirementsFile:
    """Parse ``root/path`` and every file it includes with ``-r``/``-c``."""
    return parse_requirements_text(read_text(root, path), path, root=root, env=env)


def parse_requirements_text(
    text: str, path: str, *, root: Path | None = None, env: Mapping[str, str] | None = None
) -> RequirementsFile:
    """Parse requirements ``text`` as if read from ``path``; ``-r``/``-c`` are resolved against
    ``root`` (without a root, an include is an error). A project's ``pyproject.toml`` or
    ``uv.lock`` is read as its requirements (``parsing/pyproject.py``)."""
    name = posixpath.basename(path)
    if name in ("pyproject.toml", "uv.lock"):
        return _project_file(text, path, root)
    collector = _Collector(root, env or {})
    collector.read(text, path, constraint=False, stack=(posixpath.normpath(path),))
    return RequirementsFile(
        path=path,
        requirements=tuple(collector.requirements),
        constraints=tuple(collector.constraints),
        options=collector.options,
        includes=tuple(collector.includes),
        unnamed=tuple(collector.unnamed),
    )


def _project_file(text: str, path: str, root: Path | None) -> RequirementsFile:
    """``pyproject.toml``: its dependencies; ``uv.lock``: its project's dependencies with the
    lock's pins as constraints."""
    includes = [path]
    constraints: list[RequirementLine] = []
    if posixpath.basename(path) == "uv.lock":
        if root is None:
            raise InputError(Location(path, 1), "a uv lock is read with its project's files")
        constraints = [
            replace(parse_requirement_string(pin, where), constraint=True)
            for pin, where in pyproject.lock_pins(text, path)
        ]
        path_of_project = pyproject.beside(root, path)
        includes.append(path_of_project)
        text, project = read_text(root, path_of_project), path_of_project
    else:
        project = path
    requirements = [
        parse_requirement_string(dep, where)
        for dep, where in pyproject.project_dependencies(text, project)
    ]
    return RequirementsFile(
        path=path,
        requirements=tuple(requirements),
        constraints=tuple(constraints),
        options=IndexOptions(),
        includes=tuple(includes),
    )
