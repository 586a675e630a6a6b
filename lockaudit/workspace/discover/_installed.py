"""Which files of the build context an image's installs read.

Only what the built stage (and the stages it is built from or copies from) runs counts:

- ``pip install -r``/``-c`` (also ``uv pip``) read those files, whatever they are called;
- ``pip install .`` / ``-e ./pkg[extra]`` / ``uv pip install .`` read the project's
  ``pyproject.toml`` when it declares its dependencies (``[project]``, not dynamic: a
  ``setup.py`` project's are known only by running it, which lockaudit never does);
- ``uv sync`` (in the directory a ``cd``, ``WORKDIR``, ``--project`` or ``--directory`` says)
  installs the project's ``uv.lock``, or resolves its ``pyproject.toml`` when no lock is there;
- a helper shell script the RUN runs (``bash scripts/install.sh``, ``./install.sh``), read
  from the context and followed the same way (in the RUN's directory, as the shell runs it).

Each path in the image is followed back through the COPY (or bind mount) that put it there,
the WORKDIR at each line and directory copies, to the file in the context. A file that is only
copied, never installed, is no requirement input.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockaudit.errors import InputError
from lockaudit.parsing.dockerfile import Dockerfile, Run, Stage, parse_dockerfile_text
from lockaudit.parsing.shell import SimpleCommand

_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ash"})
_SCRIPT_DEPTH = 3  # a helper script that runs a helper script that runs one: enough
_EXTRAS = re.compile(r"\[[^\]]*\]$")


@dataclass(frozen=True)
class _Placed:
    """Context ``sources`` put at ``dest`` in the image (a COPY or a RUN's bind mount)."""

    line: int
    dest: str  # absolute in the image
    sources: tuple[str, ...]  # relative to the build context
    into_dir: bool


def _workdirs(stage: Stage) -> list[tuple[int, str]]:
    """(line, directory) of every WORKDIR of a stage, in order."""
    out: list[tuple[int, str]] = []
    current = "/"
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR" and instruction.value.strip():
            current = posixpath.normpath(posixpath.join(current, instruction.value.strip()))
            out.append((instruction.location.line, current))
    return out


def _at(workdirs: list[tuple[int, str]], line: int, path: str) -> str:
    """``path`` made absolute against the WORKDIR in force at ``line``."""
    current = "/"
    for start, directory in workdirs:
        if start <= line:
            current = directory
    return posixpath.normpath(posixpath.join(current, path))


def _built_stages(dockerfile: Dockerfile, target: str) -> list[Stage]:
    """The built stage (``target``, else the last) and every stage whose installs end up in it:
    the one it is ``FROM``, and those it copies a Python environment from (a venv,
    ``site-packages``, a conda prefix), transitively. A stage it copies anything else from (a
    built site, wheels, binaries) is a builder: what that stage installs is not in the image."""
    by_alias = {s.from_line.alias.lower(): s for s in dockerfile.stages if s.from_line.alias}
    by_index = {str(i): s for i, s in enumerate(dockerfile.stages)}

    def named(name: str) -> Stage | None:
        return by_alias.get(name.lower()) or by_index.get(name)

    start = named(target) if target else None
    todo = [start or dockerfile.final]
    seen: list[Stage] = []
    while todo:
        stage = todo.pop()
        if any(stage is s for s in seen):
            continue
        seen.append(stage)
        parent = named(stage.from_line.image)
        todo += [parent] if parent is not None else []
        for copy in stage.copies:
            source = named(copy.from_stage or "")
            if source is not None and any(_is_environment(p) for p in copy.sources):
                todo.append(source)
    return seen


def _is_environment(path: str) -> bool:
    """A path that holds installed Python packages: a venv, site-/dist-packages, a conda
    prefix, a ``lib/pythonX.Y`` tree."""
    parts = [p.lower() for p in path.split("/") if p]
    return any(
        "venv" in part or part in ("site-packages", "dist-packages", "conda", "miniconda3",
                                   "miniforge3", "micromamba", "env", "envs")
        or re.fullmatch(r"python3(\.\d+)?", part) is not None
        for part in parts
    )


def _placements(stage: Stage) -> list[_Placed]:
    workdirs = _workdirs(stage)
    out = []
    for copy in stage.copies:
        if copy.from_stage:
            continue
        dest = _at(workdirs, copy.location.line, copy.dest)
        into_dir = copy.dest.endswith("/") or len(copy.sources) > 1
        out.append(_Placed(copy.location.line, dest, copy.sources, into_dir))
    return out


def _mounted(run: Run, workdir: str) -> list[_Placed]:
    """A RUN's ``--mount=type=bind,source=…,target=…`` (not from another stage)."""
    out = []
    for mount in run.mounts:
        options = dict(mount.options)
        if mount.type != "bind" or mount.target is None or "from" in options:
            continue
        source = options.get("source", options.get("src", "."))
        dest = posixpath.normpath(posixpath.join(workdir, mount.target))
        out.append(_Placed(run.location.line, dest, (source,), False))
    return out


def _sources_of(placed: _Placed, target: str) -> Iterator[str]:
    """The context paths a placement puts at ``target`` (a file, or a file under a dir)."""
    dest = placed.dest
    for source in placed.sources:
        name = posixpath.basename(source.rstrip("/"))
        if not placed.into_dir and dest == target:
            yield source  # COPY requirements.txt /tmp/r.txt (or a directory copied to dest)
        elif dest == posixpath.dirname(target) and name == posixpath.basename(target):
            yield source  # COPY requirements.txt /tmp/
        elif target.startswith(dest.rstrip("/") + "/"):
            yield posixpath.join(source, target[len(dest.rstrip("/")) + 1 :])  # COPY . /app


class _Follower:
    """Follows one image's install commands to the context files they read."""

    def __init__(self, root: Path, context: str) -> None:
        self.root = root
        self.context = context
        self.found: list[str] = []

    def context_file(self, placed: Sequence[_Placed], line: int, target: str) -> str | None:
        """The context file at image path ``target`` at ``line``, the latest copy winning."""
        for placement in sorted(placed, key=lambda p: p.line, reverse=True):
            if placement.line > line:
                continue
            for source in _sources_of(placement, target):
                rel = posixpath.normpath(posixpath.join(self.context, source))
                if not rel.startswith("../") and (self.root / rel).is_file():
                    return rel
        return None

    def stage(self, stage: Stage) -> None:
        workdirs = _workdirs(stage)
        placed = _placements(stage)
        for run in stage.runs:
            workdir = _at(workdirs, run.location.line, ".")
            self.run(run, [*placed, *_mounted(run, workdir)], workdir, 0)

    def run(self, run: Run, placed: Sequence[_Placed], cwd: str, depth: int) -> None:
        line = run.location.line
        directories = _directories(run.commands, cwd)
        for package in run.packages:
            if package.pip is None or not package.reached or package.command < 0:
                continue
            here = directories[package.command]
            install = package.pip
            for path in (*install.requirement_files, *install.constraint_files):
                self.add(self.context_file(placed, line, _join(here, path)))
            for local in install.local_args:
                self.project(placed, line, _join(here, _EXTRAS.sub("", local)), sync=False)
        for index, command in enumerate(run.commands):
            argv = command.argv
            if argv[:2] == ("uv", "sync"):
                self.project(placed, line, _uv_project(argv, directories[index]), sync=True)
            elif argv[:3] == ("uv", "pip", "sync"):
                for path in (w for w in argv[3:] if not w.startswith("-")):
                    self.add(self.context_file(placed, line, _join(directories[index], path)))
            elif depth < _SCRIPT_DEPTH:
                script = _script_of(argv)
                if script is not None:
                    self.script(placed, line, directories[index], script, depth)

    def project(self, placed: Sequence[_Placed], line: int, directory: str, sync: bool) -> None:
        if sync:
            lock = self.context_file(placed, line, posixpath.join(directory, "uv.lock"))
            if lock is not None:
                self.add(lock)
                return
        pyproject = self.context_file(placed, line, posixpath.join(directory, "pyproject.toml"))
        if pyproject is not None and declares_dependencies(self.root / pyproject):
            self.add(pyproject)

    def script(
        self, placed: Sequence[_Placed], line: int, cwd: str, script: str, depth: int
    ) -> None:
        rel = self.context_file(placed, line, _join(cwd, script))
        if rel is None:
            return
        try:
            body = (self.root / rel).read_text(encoding="utf-8", errors="replace")
            # the script's commands, read as a RUN here-document would be (never run)
            parsed = parse_dockerfile_text(f"FROM scratch\nRUN <<'EOF'\n{body}\nEOF\n", rel)
        except (OSError, InputError):
            return  # a script we cannot read installs nothing we can know
        for run in parsed.final.runs:
            # its paths are relative to where it runs; the context as the RUN saw it
            before = [_Placed(0, p.dest, p.sources, p.into_dir) for p in placed if p.line <= line]
            self.run(run, before, cwd, depth + 1)

    def add(self, rel: str | None) -> None:
        if rel is not None and rel not in self.found:
            self.found.append(rel)


def _join(cwd: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(cwd, path))


def _directories(commands: Sequence[SimpleCommand], cwd: str) -> list[str]:
    """The directory each command of a RUN runs in: a ``cd`` holds for the commands after it
    (``cd server && uv sync``); a ``cd`` to an unknown place leaves it as it was."""
    out = []
    for command in commands:
        out.append(cwd)
        if command.argv[:1] == ("cd",) and len(command.argv) > 1:
            target = command.argv[1]
            if "$" not in target and not target.startswith(("-", "~")):
                cwd = _join(cwd, target)
    return out


def _uv_project(argv: Sequence[str], cwd: str) -> str:
    """``uv sync``'s project directory: ``--project``/``--directory``, else the cwd."""
    for i, word in enumerate(argv):
        name, eq, value = word.partition("=")
        if name in ("--project", "--directory"):
            value = value if eq else (argv[i + 1] if i + 1 < len(argv) else ".")
            return _join(cwd, value)
    return cwd


def _script_of(argv: Sequence[str]) -> str | None:
    """The shell script a command runs: ``bash x.sh``, ``sh -e x.sh``, ``./x.sh``."""
    if not argv:
        return None
    if posixpath.basename(argv[0]) in _SHELLS:
        words = [w for w in argv[1:] if not w.startswith("-")]
        if "-c" in argv[1:] or not words:
            return None
        return words[0]
    if argv[0].endswith(".sh") and "/" in argv[0]:
        return argv[0]
    return None


def declares_dependencies(path: Path) -> bool:
    """A ``pyproject.toml`` with a ``[project]`` table whose dependencies are not dynamic."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    project = data.get("project")
    if not isinstance(project, dict):
        return False
    dynamic = project.get("dynamic", [])
    return not (isinstance(dynamic, list) and "dependencies" in dynamic)


def installed_files(
    root: Path, dockerfile: Dockerfile, context: str, target: str = "", parent_stage: str = ""
) -> list[str]:
    """Context files that the installs of the built stage (``target``, else the last) and the
    stages it needs read, in the order of the Dockerfile. ``parent_stage``: a stage built as
    the image's parent, whose installs are the parent's (its lock), not this image's."""
    follower = _Follower(root, context)
    needed = _built_stages(dockerfile, target)
    if parent_stage:
        inherited = _built_stages(dockerfile, parent_stage)
        needed = [s for s in needed if not any(s is i for i in inherited)]
    for stage in dockerfile.stages:
        if any(stage is s for s in needed):
            follower.stage(stage)
    return follower.found
