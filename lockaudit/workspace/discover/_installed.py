"""Which files of the build context a Dockerfile's ``pip install -r``/``-c`` read.

A ``pip install -r /tmp/requirements.txt`` reads whatever a ``COPY`` (or a bind mount) put at
that path: followed back through the copy's destination, the WORKDIR at each line and
directory copies, to the file in the context, whatever it is called
(``requirements/default.txt``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path

from lockaudit.parsing.dockerfile import Copy, Dockerfile, Stage


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


def _copied_from(copy: Copy, workdirs: list[tuple[int, str]], target: str) -> Iterator[str]:
    """The context paths a COPY puts at ``target`` (a file, or a file under a copied dir)."""
    dest = _at(workdirs, copy.location.line, copy.dest)
    into_dir = copy.dest.endswith("/") or len(copy.sources) > 1
    for source in copy.sources:
        name = posixpath.basename(source.rstrip("/"))
        if not into_dir and dest == target:
            yield source  # COPY requirements.txt /tmp/r.txt (or a directory copied to dest)
        elif dest == posixpath.dirname(target) and name == posixpath.basename(target):
            yield source  # COPY requirements.txt /tmp/
        elif target.startswith(dest.rstrip("/") + "/"):
            yield posixpath.join(source, target[len(dest.rstrip("/")) + 1 :])  # COPY . /app


def installed_files(root: Path, dockerfile: Dockerfile, context: str) -> list[str]:
    """Context files that ``pip install -r``/``-c`` of the Dockerfile read, that exist."""
    found: list[str] = []
    copies = [(c, _workdirs(s)) for s in dockerfile.stages for c in s.copies if not c.from_stage]
    for stage in dockerfile.stages:
        workdirs = _workdirs(stage)
        for install in stage.pip_installs:
            for path in (*install.requirement_files, *install.constraint_files):
                target = _at(workdirs, install.location.line, path)
                for copy, copy_workdirs in copies:
                    for source in _copied_from(copy, copy_workdirs, target):
                        rel = posixpath.normpath(posixpath.join(context, source))
                        if (root / rel).is_file():
                            found.append(rel)
    return list(dict.fromkeys(found))
