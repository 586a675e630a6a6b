"""Reading a repository for discovery: the file tree, Dockerfile FROM lines, the
``docker build`` lines of build scripts (with their ``sed`` rewrites) and compose files.

Nothing is executed; a line that cannot be read builds nothing we can know and is skipped.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockaudit.errors import InputError, Location
from lockaudit.parsing.dockerfile import Dockerfile, Stage, parse_dockerfile
from lockaudit.parsing.shell import SimpleCommand, expand_words, split_commands

# Never part of the images: VCS and tool state, virtualenvs, vendored code, build output, and
# test fixtures (a fixture repository's Dockerfiles would compete with the real ones).
_SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", ".env", "__pycache__",
     ".tox", ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages", "build",
     "dist", "testdata", "fixtures", "__fixtures__"}
)
_SKIP_PATHS = ("tests/data", "test/data")
_SCRIPT_SUFFIXES = (".sh", ".bash", ".bat", ".cmd")
_MAKEFILES = ("Makefile", "makefile", "GNUmakefile")
_COMPOSE = re.compile(r"^(docker-)?compose[\w.-]*\.ya?ml$")
# docker build options that take a value (the others are flags)
_BUILD_VALUE_OPTIONS = frozenset(
    {"-t", "--tag", "-f", "--file", "--build-arg", "--target", "--platform", "--progress",
     "--label", "--cache-from", "--cache-to", "--secret", "--ssh", "-o", "--output", "--network",
     "--iidfile", "--add-host", "--shm-size", "--ulimit", "-m", "--memory", "--builder",
     "--build-context", "--metadata-file", "--attest", "--allow", "--annotation"}
)


# -- what the repository holds ------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """An image reference split as discovery needs it: ``registry/…/repo:tag``."""

    text: str
    namespace: str  # everything before the last path component ("rajiup", "nvidia")
    repo: str  # the last path component ("cp-whisperx-app-base-ml")
    tag: str

    @property
    def short(self) -> tuple[str, str]:
        return (self.repo, self.tag)


def parse_ref(text: str) -> Ref:
    ref = text.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    tag = "latest"
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1 :]
    namespace, _, repo = ref.rpartition("/")
    return Ref(text, namespace, repo, tag)


@dataclass(frozen=True)
class DockerInfo:
    path: str
    stems: tuple[str, ...]  # names this file may build, most specific last
    from_ref: Ref | None  # the final stage's external FROM, ARGs resolved; None if unresolved
    from_raw: str
    from_location: Location
    unresolved: tuple[str, ...]
    uses_variable: bool  # the FROM was written with a variable (${REGISTRY}/...)
    arg_defaults: tuple[tuple[str, str], ...]
    dockerfile: Dockerfile | None = None


@dataclass(frozen=True)
class BuildFact:
    """One ``docker build`` (or compose service) that builds ``dockerfile`` as ``ref``."""

    dockerfile: str
    ref: Ref
    context: str
    location: Location
    build_args: tuple[tuple[str, str], ...] = ()
    substitutions: tuple[tuple[str, str], ...] = ()  # sed s/old/new/ applied to the file


@dataclass
class _Tree:
    dockerfiles: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    compose: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    common: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)


def _is_dockerfile(name: str) -> bool:
    if name.endswith((".dockerignore", ".md", ".txt", ".orig", ".bak", ".swp")):
        return False
    return name == "Dockerfile" or name.endswith(".Dockerfile") or name.startswith("Dockerfile.")


def walk(root: Path) -> _Tree:
    tree = _Tree()
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs
            if d not in _SKIP_DIRS and not (Path(directory) / d / "pyvenv.cfg").exists()
        )
        rel_dir = Path(directory).relative_to(root).as_posix()
        if rel_dir.endswith(_SKIP_PATHS):
            dirs[:] = []
            continue
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            _classify(tree, rel, name, rel_dir)
    return tree


def _classify(tree: _Tree, rel: str, name: str, rel_dir: str) -> None:
    if _is_dockerfile(name):
        tree.dockerfiles.append(rel)
    elif name.endswith(_SCRIPT_SUFFIXES) or name in _MAKEFILES or name.endswith(".mk"):
        tree.scripts.append(rel)
    elif _COMPOSE.match(name):
        tree.compose.append(rel)
    elif name == "versions.txt":
        tree.versions.append(rel)
    elif name.endswith(".txt") and posixpath.basename(rel_dir) == "constraints":
        tree.constraints.append(rel)
    elif fnmatch.fnmatch(name, "requirements*common*.txt") or name == "common-requirements.txt":
        tree.common.append(rel)
    elif fnmatch.fnmatch(name, "*requirements*.txt"):
        tree.requirements.append(rel)


# -- Dockerfiles --------------------------------------------------------------------------------


def _stems(path: str) -> tuple[str, ...]:
    directory, name = posixpath.split(path)
    folder = posixpath.basename(directory)
    if name == "Dockerfile":
        return (folder,) if folder else ()
    middle = name.removesuffix(".Dockerfile") if name.endswith(".Dockerfile") else name[11:]
    return (middle, f"{folder}-{middle}") if folder else (middle,)


def root_stage(dockerfile: Dockerfile) -> Stage:
    """The stage the final stage is built on, following ``FROM <alias>`` chains."""
    stages = {s.from_line.alias: s for s in dockerfile.stages if s.from_line.alias}
    stage = dockerfile.final
    seen: set[str] = set()
    while stage.from_line.image in stages and stage.from_line.image not in seen:
        seen.add(stage.from_line.image)
        stage = stages[stage.from_line.image]
    return stage


def scan_dockerfile(root: Path, path: str, problems: list[str]) -> DockerInfo:
    stems = _stems(path) or (root.resolve().name,)
    try:
        parsed = parse_dockerfile(root, path, None)
    except InputError as e:
        problems.append(f"{e}: cannot read this Dockerfile; it is left out")
        return DockerInfo(path, stems, None, "", Location(path), (), False, ())
    line = root_stage(parsed).from_line
    unresolved = line.unresolved
    defaults = tuple((name, value) for name, value, _ in parsed.global_args if value is not None)
    return DockerInfo(
        path=path,
        stems=stems,
        from_ref=None if unresolved else parse_ref(line.image),
        from_raw=line.raw,
        from_location=line.location,
        unresolved=unresolved,
        uses_variable="$" in line.raw,
        arg_defaults=defaults,
        dockerfile=parsed,
    )


# -- build scripts ------------------------------------------------------------------------------

_FOR_LINE = re.compile(r"^\s*for\s+(\w+)\s+in\s+(.+?)\s*;?\s*(do)?\s*$")
_MAKE_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_]\w*)\s*(?:\?=|:=|::=|=)\s*(.*)$")
_SH_ASSIGN = re.compile(r"^\s*(?:export\s+|readonly\s+|declare\s+)?([A-Za-z_]\w*)=(\S.*|)$")
_BAT_SET = re.compile(r'^\s*set\s+"?([A-Za-z_]\w*)=([^"]*)"?\s*$', re.IGNORECASE)


def _script_lines(root: Path, path: str) -> list[tuple[int, str]]:
    """Logical lines (continuations joined) with their first physical line number."""
    try:
        text = (root / path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    cont = "^" if path.endswith((".bat", ".cmd")) else "\\"
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not parts:
            start = number
        stripped = line.rstrip()
        if stripped.endswith(cont):
            parts.append(stripped[:-1] + " ")
            continue
        parts.append(line)
        out.append((start, "".join(parts)))
        parts = []
    if parts:
        out.append((start, "".join(parts)))
    return out


def _expand_loops(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str, dict[str, str]]]:
    """Lines with the values of enclosing ``for X in a b c; do … done`` loops (sh only)."""
    i = 0
    while i < len(lines):
        number, text = lines[i]
        match = _FOR_LINE.match(text)
        if match is None:
            yield number, text, {}
            i += 1
            continue
        depth, j = 1, i + 1
        while j < len(lines) and depth:
            body_text = lines[j][1].strip()
            if re.match(r"^(for|while|until)\b", body_text):
                depth += 1
            elif re.match(r"^done\b", body_text):
                depth -= 1
            j += 1
        body = [line for line in lines[i + 1 : j - 1] if line[1].strip() != "do"]
        for value in match.group(2).split():
            for inner_number, inner, env in _expand_loops(body):
                yield inner_number, inner, {match.group(1): value.strip("'\""), **env}
        i = j


def scan_script(root: Path, path: str) -> list[BuildFact]:
    lines = _script_lines(root, path)
    is_bat = path.endswith((".bat", ".cmd"))
    is_make = posixpath.basename(path) in _MAKEFILES or path.endswith(".mk")
    env: dict[str, str] = {}
    facts: list[BuildFact] = []
    pending: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}  # sed outputs
    for number, text, loop_env in _expand_loops(lines):
        if is_bat:
            converted = _bat_to_sh(text, env)
            if converted is None:
                continue
            text = converted
        elif is_make:
            assign = _MAKE_ASSIGN.match(text)
            if assign and not text.startswith("\t"):
                env[assign.group(1)] = assign.group(2).strip()
                continue
            text = re.sub(r"\$\((\w+)\)", r"${\1}", text.strip())
        if _assign(text, env, Location(path, number)):
            continue
        try:
            commands = split_commands(text, Location(path, number), {**env, **loop_env})
        except InputError:
            continue  # a line sh itself could not split builds nothing we can know
        facts.extend(_commands_facts(commands, path, number, env, pending))
    return facts


def _assign(text: str, env: dict[str, str], location: Location) -> bool:
    """Record a shell ``NAME=value`` line in ``env`` (value expanded as sh would)."""
    match = _SH_ASSIGN.match(text)
    if match is None:
        return False
    try:
        words, _ = expand_words(match.group(2), location, env)
    except InputError:
        return True
    env[match.group(1)] = " ".join(words)
    return True


def _bat_to_sh(text: str, env: dict[str, str]) -> str | None:
    stripped = text.strip()
    if stripped.lower().startswith(("rem ", "::", "@echo", "echo")):
        return None
    assign = _BAT_SET.match(stripped)
    if assign:
        env[assign.group(1)] = assign.group(2)
        return None
    # %NAME% -> ${NAME}; loop variables (%%s) stay unknown and the line is skipped later.
    # Backslashes are Windows path separators here, never sh escapes.
    return re.sub(r"(?<!%)%(\w+)%", r"${\1}", stripped.lstrip("@")).replace("\\", "/")


def _commands_facts(
    commands: tuple[SimpleCommand, ...],
    path: str,
    number: int,
    env: dict[str, str],
    pending: dict[str, tuple[str, tuple[tuple[str, str], ...]]],
) -> Iterator[BuildFact]:
    previous_sed: tuple[str, tuple[tuple[str, str], ...]] | None = None
    for command in commands:
        argv = command.argv
        if not argv:
            env.update(command.assignments)
            continue
        if argv[0] == "export":
            for word in argv[1:]:
                name, eq, value = word.partition("=")
                if eq:
                    env[name] = value
            continue
        if argv[0] == "sed":
            previous_sed = _sed(command, pending)
            continue
        build = _docker_build_args(argv)
        if build is not None and not command.unknown_vars:
            fact = _build_fact(build, path, number, previous_sed, pending)
            if fact is not None:
                yield from fact
        previous_sed = None


def _sed(
    command: SimpleCommand, pending: dict[str, tuple[str, tuple[tuple[str, str], ...]]]
) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The input file and ``s/old/new/`` pairs of a sed command; records ``> out`` files."""
    scripts: list[str] = []
    files: list[str] = []
    in_place = False
    words = list(command.argv[1:])
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-e", "--expression") and i + 1 < len(words):
            scripts.append(words[i + 1])
            i += 2
            continue
        if word.startswith("-i") or word.startswith("--in-place"):
            in_place = True
        elif not word.startswith("-"):
            files.append(word)
        i += 1
    if not scripts and files:
        scripts.append(files.pop(0))
    pairs = tuple(pair for script in scripts for pair in _substitutions(script))
    if not files or not pairs:
        return None
    result = (files[-1], pairs)
    for redirect in command.redirects:
        if redirect.op in (">", ">|") and redirect.target:
            pending[posixpath.normpath(redirect.target)] = result
    if in_place:
        pending[posixpath.normpath(files[-1])] = result
    return result


def _substitutions(script: str) -> Iterator[tuple[str, str]]:
    for part in script.split(";"):
        part = part.strip()
        if len(part) < 4 or part[0] != "s":
            continue
        delim = part[1]
        pieces = re.split(rf"(?<!\\){re.escape(delim)}", part[2:])
        if len(pieces) >= 2:
            yield (pieces[0].replace("\\" + delim, delim), pieces[1].replace("\\" + delim, delim))


def _docker_build_args(argv: tuple[str, ...]) -> tuple[str, ...] | None:
    """The arguments after ``docker build`` / ``docker buildx build`` / ``docker image build``."""
    if not argv or posixpath.basename(argv[0]) not in ("docker", "docker.exe"):
        return None
    rest = list(argv[1:])
    if rest[:2] in (["buildx", "build"], ["image", "build"], ["builder", "build"]):
        return tuple(rest[2:])
    if rest[:1] == ["build"]:
        return tuple(rest[1:])
    return None


def _build_fact(
    args: tuple[str, ...],
    path: str,
    number: int,
    previous_sed: tuple[str, tuple[tuple[str, str], ...]] | None,
    pending: Mapping[str, tuple[str, tuple[tuple[str, str], ...]]],
) -> list[BuildFact] | None:
    tags: list[str] = []
    build_args: list[tuple[str, str]] = []
    dockerfile: str | None = None
    positional: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        name, eq, inline = word.partition("=")
        if word.startswith("-") and name in _BUILD_VALUE_OPTIONS:
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
            i += 1 if eq else 2
            if name in ("-t", "--tag"):
                tags.append(value)
            elif name in ("-f", "--file"):
                dockerfile = value
            elif name == "--build-arg" and "=" in value:
                key, _, arg_value = value.partition("=")
                build_args.append((key, arg_value))
            continue
        if not word.startswith("-"):
            positional.append(word)
        i += 1
    if not tags or not positional:
        return None
    context = posixpath.normpath(positional[-1]) if positional[-1] != "-" else "."
    substitutions: tuple[tuple[str, str], ...] = ()
    if dockerfile == "-" and previous_sed is not None:
        dockerfile, substitutions = previous_sed
    elif dockerfile is None:
        dockerfile = posixpath.join(context, "Dockerfile")
    elif dockerfile == "-":
        return None
    dockerfile = posixpath.normpath(dockerfile)
    if dockerfile in pending and not substitutions:
        dockerfile, substitutions = pending[dockerfile]
        dockerfile = posixpath.normpath(dockerfile)
    return [
        BuildFact(
            dockerfile, parse_ref(tag), context, Location(path, number), tuple(build_args),
            substitutions,
        )
        for tag in tags
    ]


# -- compose files ------------------------------------------------------------------------------


def scan_compose(root: Path, path: str) -> list[BuildFact]:
    """``services.*.build`` + ``image`` from a compose file (a small YAML subset, no library)."""
    try:
        lines = (root / path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    base = posixpath.dirname(path)
    facts: list[BuildFact] = []
    for service, start in _compose_services(lines):
        image = service.get("image")
        context = service.get("build") or service.get("build.context")
        if not image or context is None:
            continue
        words, _ = _expand(image)
        context_path = posixpath.normpath(posixpath.join(base, context or "."))
        dockerfile = posixpath.normpath(
            posixpath.join(context_path, service.get("build.dockerfile", "Dockerfile"))
        )
        facts.append(
            BuildFact(dockerfile, parse_ref(words), context_path, Location(path, start))
        )
    return facts


def _expand(text: str) -> tuple[str, bool]:
    """Compose-style ``${X:-default}``: the default is used, a bare ``${X}`` is unknown."""
    unknown = False

    def value(match: re.Match[str]) -> str:
        nonlocal unknown
        if match.group(2) is None:
            unknown = True
            return ""
        return match.group(2)

    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", value, text), unknown


def _compose_services(lines: list[str]) -> Iterator[tuple[dict[str, str], int]]:
    in_services = False
    service_indent: int | None = None
    current: dict[str, str] | None = None
    start = 0
    block: str | None = None  # "build" while inside a nested build: mapping
    block_indent = 0
    for number, raw in enumerate(lines, start=1):
        text = raw.split(" #", 1)[0].rstrip()
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        indent = len(text) - len(text.lstrip())
        key, _, value = text.strip().partition(":")
        value = value.strip().strip("'\"")
        if indent == 0:
            if current is not None:
                yield current, start
                current = None
            in_services = key == "services"
            service_indent = None
            continue
        if not in_services:
            continue
        if service_indent is None or indent <= service_indent:
            if current is not None:
                yield current, start
            service_indent, current, start, block = indent, {}, number, None
            continue
        if current is None:
            continue
        if block == "build" and indent > block_indent:
            if key in ("context", "dockerfile"):
                current[f"build.{key}"] = value
            continue
        block = None
        if key == "build":
            if value:
                current["build"] = value
            else:
                current["build"] = ""
                block, block_indent = "build", indent
        elif key == "image":
            current["image"] = value
    if current is not None:
        yield current, start
