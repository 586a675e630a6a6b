"""Rules about what an install step reads, and what it leaves unread.

* ``remote-requirements``: ``pip install -r https://…`` (or ``-c``) reads a file from outside
  the build context: what the image installs changes with whatever the URL serves, unhashed.
* ``lock-not-used``: a lock of another tool (``poetry.lock``, ``uv.lock``, ``Pipfile.lock``,
  ``pdm.lock``) is copied into the image, but no RUN runs the tool's command that reads it, so
  the dependencies are resolved afresh at build time.
* ``unknown-extra``: ``pip install '.[name]'`` of a local project whose ``pyproject.toml``
  defines no extra ``name``: pip warns and installs the project without those dependencies.

Decisions:

* A lock counts as read when a RUN of the same Dockerfile runs the reading command
  (``poetry install``, ``uv sync``, ...; also through ``python -m``), names the lock file, or
  runs a script copied from the build context whose text runs that command. A RUN that only
  installs the tool (``curl … | python3 -``) does not read the lock.
* ``unknown-extra`` reads only static metadata: a ``[project]`` table whose
  ``optional-dependencies`` are not ``dynamic`` (PEP 621), or Poetry's ``[tool.poetry.extras]``.
  A project that computes its extras (``setup.py``, ``dynamic``) is not judged. Extra names
  are compared normalized (PEP 685).
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

from packaging.utils import canonicalize_name

from lockaudit.parsing.dockerfile import Dockerfile, PipInstall, Stage
from lockaudit.rules import CheckContext, distinct_dockerfiles, rule
from lockaudit.rules.findings import Finding, Severity
from lockaudit.rules.installs import is_remote, trace_path
from lockaudit.workspace.model import Image

# lock file name -> (the tool that reads it, the tool's commands that read it)
_LOCK_READERS: Mapping[str, tuple[str, frozenset[str]]] = {
    "poetry.lock": ("poetry", frozenset({"install", "sync", "export"})),
    "uv.lock": ("uv", frozenset({"sync", "export", "run"})),
    "Pipfile.lock": ("pipenv", frozenset({"install", "sync", "requirements"})),
    "pdm.lock": ("pdm", frozenset({"install", "sync", "export"})),
}
_LOCAL_EXTRAS = re.compile(r"^(?P<path>.*?)\[(?P<extras>[^\]]*)\]$")


# -- remote-requirements ------------------------------------------------------------------------


@rule(
    "remote-requirements",
    Severity.WARNING,
    "pip install -r/-c of a URL: the image installs what the URL serves at build time",
)
def remote_requirements(ctx: CheckContext) -> Iterator[Finding]:
    for image, dockerfile in distinct_dockerfiles(ctx):
        for stage in dockerfile.stages:
            for install in stage.pip_installs:
                for option, paths in (("-r", install.requirement_files),
                                      ("-c", install.constraint_files)):
                    for path in paths:
                        if is_remote(path):
                            yield remote_requirements.finding(
                                f"pip install {option} {path} reads a file from outside the "
                                "build context: what the image installs changes with what the "
                                "URL serves, and nothing checks its hash",
                                install.location,
                                image=image.key,
                                hint="keep the file in the build context and COPY it in (a "
                                "lock with --require-hashes): the build then installs what "
                                "the commit says",
                            )


# -- lock-not-used ------------------------------------------------------------------------------


@rule(
    "lock-not-used",
    Severity.WARNING,
    "a lock file copied into the image that no command of the image reads",
)
def lock_not_used(ctx: CheckContext) -> Iterator[Finding]:
    for image, dockerfile in distinct_dockerfiles(ctx):
        texts = _script_texts(ctx, image, dockerfile)
        for stage in dockerfile.stages:
            for copy in stage.copies:
                if copy.from_stage is not None:
                    continue
                for source in copy.sources:
                    name = posixpath.basename(source.rstrip("/"))
                    reader = _LOCK_READERS.get(name)
                    if reader is None or _reads_lock(dockerfile, texts, name, *reader):
                        continue
                    tool, verbs = reader
                    yield lock_not_used.finding(
                        f"{source} is copied in, but no RUN runs {tool} "
                        f"{' or '.join(sorted(verbs))}: the install resolves the dependencies "
                        "afresh and the lock's pins are never used",
                        copy.location,
                        image=image.key,
                        hint=f"install from the lock ({tool} {sorted(verbs)[0]}, or export it "
                        "to a hash-pinned requirements file and pip install -r it), or stop "
                        "copying it",
                    )


def _reads_lock(
    dockerfile: Dockerfile, scripts: tuple[str, ...], name: str, tool: str, verbs: frozenset[str]
) -> bool:
    for stage in dockerfile.stages:
        for run in stage.runs:
            for command in run.commands:
                argv = _unwrap(command.argv)
                if argv and posixpath.basename(argv[0]) == tool and set(argv[1:]) & verbs:
                    return True
                if any(name in word for word in command.argv):
                    return True
    pattern = re.compile(rf"\b{re.escape(tool)}\b[^\n]*\b({'|'.join(sorted(verbs))})\b")
    return any(pattern.search(text) or name in text for text in scripts)


def _unwrap(argv: tuple[str, ...]) -> tuple[str, ...]:
    """``python -m poetry install`` is ``poetry install``."""
    if len(argv) > 2 and posixpath.basename(argv[0]).startswith("python") and argv[1] == "-m":
        return argv[2:]
    return argv


def _script_texts(ctx: CheckContext, image: Image, dockerfile: Dockerfile) -> tuple[str, ...]:
    """The text of every script the image copies in and a RUN then names."""
    copied = [path for path in ctx.installs[image.key].copied if path.endswith((".sh", ".py"))]
    words = {
        posixpath.basename(word)
        for stage in dockerfile.stages
        for run in stage.runs
        for command in run.commands
        for word in command.argv
    }
    texts = []
    for path in copied:
        if posixpath.basename(path) in words:
            try:
                texts.append(ctx.workspace.path(path).read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
    return tuple(texts)


# -- unknown-extra ------------------------------------------------------------------------------


@rule(
    "unknown-extra",
    Severity.WARNING,
    "pip install of a local project with an extra its pyproject.toml does not define",
)
def unknown_extra(ctx: CheckContext) -> Iterator[Finding]:
    for image, dockerfile in distinct_dockerfiles(ctx):
        for stage in dockerfile.stages:
            for install in stage.pip_installs:
                for word in install.local_args:
                    yield from _unknown_extras(ctx, image, stage, install, word)


def _unknown_extras(
    ctx: CheckContext, image: Image, stage: Stage, install: PipInstall, word: str
) -> Iterator[Finding]:
    match = _LOCAL_EXTRAS.match(word)
    if match is None:
        return
    asked = [e.strip() for e in match["extras"].split(",") if e.strip()]
    path = trace_path(ctx.workspace, image, stage, install,
                      posixpath.join(match["path"] or ".", "pyproject.toml"))
    if path is None or not asked:
        return
    defined = _defined_extras(ctx.workspace.path(path).read_bytes()
                              if ctx.workspace.path(path).is_file() else b"")
    if defined is None:
        return
    for extra in asked:
        if canonicalize_name(extra) not in defined:
            known = ", ".join(sorted(defined)) or "none"
            yield unknown_extra.finding(
                f"pip install {word}: {path} defines no extra {extra!r} (its extras: {known}); "
                "pip warns and installs none of the dependencies it was meant to add",
                install.location,
                image=image.key,
                hint=f"add {extra!r} to [project.optional-dependencies] of {path}, or install "
                "one of the extras it defines",
            )


def _defined_extras(raw: bytes) -> frozenset[str] | None:
    """The extras a pyproject.toml declares statically, None when it does not say."""
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    project = data.get("project")
    if isinstance(project, dict):
        if "optional-dependencies" in project.get("dynamic", []):
            return None
        extras = project.get("optional-dependencies", {})
        return frozenset(canonicalize_name(k) for k in extras) if isinstance(extras, dict) else None
    poetry = data.get("tool", {}).get("poetry", {})
    if isinstance(poetry, dict) and isinstance(poetry.get("extras"), dict):
        return frozenset(canonicalize_name(k) for k in poetry["extras"])
    return None
