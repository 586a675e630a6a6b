"""Fuzzing (``-m fuzz``, deselected by default): mutated real files never crash a parser.

``tests/test_parsers_property.py`` glues tricky tokens into new text for the requirements,
versions, shell and Dockerfile parsers on every run. This module starts from the repository's
*real* files instead (its Dockerfiles, requirement files, ``pyproject.toml`` and locks) and
mutates them (bytes deleted, duplicated, replaced, lines swapped, TOML values retyped), and
adds the two parsers the property tests do not reach: the workspace configuration and the
locks (text and pylock; the pylocks rendered from the text locks, as this repository keeps
none). The only exception allowed out is a :class:`LockauditError` whose
text names the file (``path:line: ...`` or ``path: ...``).

``LOCKAUDIT_EXAMPLES`` sets the examples per property (default 300).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockaudit.errors import Location, LockauditError
from lockaudit.locks.pylock import pylock_packages, read_pylock, render_pylock
from lockaudit.locks.text import read_lock
from lockaudit.parsing.dockerfile import parse_dockerfile_text
from lockaudit.parsing.requirements import parse_requirements_text
from lockaudit.parsing.shell import split_commands
from lockaudit.workspace.config import load_workspace

pytestmark = pytest.mark.fuzz

REPO = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=int(os.environ.get("LOCKAUDIT_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _seeds(*patterns: str) -> list[bytes]:
    found = sorted({p for pattern in patterns for p in REPO.glob(pattern) if p.is_file()})
    assert found, patterns
    return [p.read_bytes() for p in found]


DOCKERFILES = _seeds("docker/*/Dockerfile*", "tests/corpus/workspace/docker/*/Dockerfile*")
REQUIREMENTS = _seeds("docker/*/requirements*.txt", "requirements-common.txt", "constraints/*")
PYPROJECT = (REPO / "tests/corpus/workspace/pyproject.toml").read_bytes()
TEXT_LOCKS = _seeds("locks/*-cpu.txt", "locks/*.layer.txt")[:6]
# This repository keeps no pylocks (see its pyproject): they are rendered from its text locks.
PYLOCKS = [
    render_pylock(read_lock(REPO / "locks" / name)) for name in ("base-cpu.txt", "asr-cpu.txt")
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed file with a few byte- and line-level edits."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        at = draw(st.integers(0, len(data) - 1))
        span = draw(st.integers(1, 40))
        match draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "swap-lines"])):
            case "delete":
                del data[at : at + span]
            case "insert":
                tricky = st.sampled_from(
                    [b"\\\n", b"'", b'"', b"$(", b"${", b"<<EOF\n", b"\x00", b"\xff", b"\r"]
                )
                data[at:at] = draw(st.one_of(st.binary(max_size=12), tricky))
            case "replace":
                data[at : at + 1] = draw(st.binary(min_size=1, max_size=3))
            case "duplicate":
                data[at:at] = data[at : at + span]
            case _:
                lines = bytes(data).split(b"\n")
                i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
                data = bytearray(b"\n".join(lines))
    return bytes(data)


def _located(error: LockauditError, path: str | None = None) -> None:
    """The error names ``path`` (or, with None, some file of the workspace) first."""
    text = str(error)
    if path is not None:
        assert text.startswith(f"{path}:"), text
    else:
        assert re.match(r"^[\w./@+-]+(:\d+)?: ", text), text


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@FUZZ
@given(mutated(DOCKERFILES))
def test_mutated_dockerfiles(data: bytes) -> None:
    text = _text(data)
    if text is None:
        return  # undecodable files are the file readers' business (property tests cover them)
    try:
        parse_dockerfile_text(text, "docker/x/Dockerfile")
    except LockauditError as e:
        _located(e, "docker/x/Dockerfile")


@FUZZ
@given(mutated(DOCKERFILES))
def test_mutated_run_lines_through_the_shell(data: bytes) -> None:
    text = _text(data)
    if text is None:
        return
    for line in text.splitlines():
        if line.lstrip().upper().startswith("RUN "):
            # a shell error is located at the line given; only other exceptions fail the test
            with contextlib.suppress(LockauditError):
                split_commands(line.lstrip()[4:], Location("Dockerfile", 1))


@FUZZ
@given(mutated(REQUIREMENTS))
def test_mutated_requirement_files(data: bytes) -> None:
    text = _text(data)
    if text is None:
        return
    try:
        parse_requirements_text(text, "requirements.txt")
    except LockauditError as e:
        _located(e, "requirements.txt")


def _workspace(config: bytes) -> Path:
    root = Path(tempfile.mkdtemp(prefix="lockaudit-fuzz-"))
    for relative in ("requirements-common.txt", "versions.txt", "constraints/pins.txt"):
        source = REPO / "tests/corpus/workspace" / relative
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(source.read_bytes())
    (root / "pyproject.toml").write_bytes(config)
    return root


@FUZZ
@given(mutated([PYPROJECT]))
def test_mutated_pyproject_config(data: bytes) -> None:
    root = _workspace(data)
    try:
        load_workspace(root)
    except LockauditError as e:
        _located(e)  # the config, or the Dockerfile whose FROM it contradicts


TOML_VALUES = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _paths(value, (*prefix, i))
    return found


@st.composite
def retyped(draw: st.DrawFn, seed: bytes) -> bytes:
    """A TOML file with a few values (anywhere in it) replaced by values of any type."""
    data = tomllib.loads(seed.decode("utf-8"))
    paths = _paths(data)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        holder: Any = data
        for key in path[:-1]:
            holder = holder[key]
        try:
            holder[path[-1]] = draw(TOML_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
        paths = _paths(data)
    return tomli_w.dumps(data).encode()


@FUZZ
@given(retyped(PYPROJECT))
def test_retyped_pyproject_config(data: bytes) -> None:
    root = _workspace(data)
    try:
        load_workspace(root)
    except LockauditError as e:
        _located(e)  # the config, or the Dockerfile whose FROM it contradicts


@FUZZ
@given(st.one_of(mutated(TEXT_LOCKS), mutated(PYLOCKS)))
def test_mutated_locks(data: bytes) -> None:
    folder = Path(tempfile.mkdtemp(prefix="lockaudit-fuzz-"))
    text_lock, pylock = folder / "x.txt", folder / "pylock.x.toml"
    text_lock.write_bytes(data)
    pylock.write_bytes(data)
    for path, read in ((text_lock, read_lock), (pylock, read_pylock)):
        try:
            read(path, display=path.name)
        except LockauditError as e:
            _located(e, path.name)
    assert isinstance(pylock_packages(data), dict)


@FUZZ
@given(st.sampled_from(PYLOCKS).flatmap(retyped))
def test_retyped_pylocks(data: bytes) -> None:
    path = Path(tempfile.mkdtemp(prefix="lockaudit-fuzz-")) / "pylock.x.toml"
    path.write_bytes(data)
    try:
        read_pylock(path, display=path.name)
    except LockauditError as e:
        _located(e, path.name)
    assert isinstance(pylock_packages(data), dict)
