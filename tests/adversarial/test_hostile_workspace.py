"""Hostile workspaces: image names and paths that try to write outside the workspace.

An image name or tag becomes the file name of its locks, so ``../../escape`` once made
``compile`` write ``escape-cpu.txt`` two folders up. Names and tags are now checked against
Docker's reference grammar when the config loads (exit 2 at the line that sets them), the
``locks`` folder must be relative and without ``..``, and a ``locks`` folder that is a symlink
leading out of the workspace is refused before anything is written. A duplicate declaration is
reported at the line of the second one.

Each test runs the real CLI in a child process against the loopback index and byte-compares
the workspace *and its parent folder* before and after: nothing may be written anywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus.harness import Cli, cli_env, make_workspace, reliability_scenario
from tests.indexserver import IndexServer


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(reliability_scenario()) as running:
        yield running


@pytest.fixture
def root(tmp_path: Path, server: IndexServer) -> Path:
    return make_workspace(tmp_path / "parent" / "ws", server)


def tree(top: Path) -> dict[str, bytes | str]:
    """Every file under ``top`` (bytes) and every symlink (its target), not following links."""
    found: dict[str, bytes | str] = {}
    for folder, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            key = path.relative_to(top).as_posix()
            if path.is_symlink():
                found[key] = "-> " + os.readlink(path)
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "<dir>"
    return found


def cli(root: Path, tmp_path: Path, server: IndexServer) -> Cli:
    # The cache lives beside `parent`, so the compared tree is the workspace and its parent.
    return Cli(root, cli_env(server, tmp_path / "cache"))


def edit(root: Path, old: str, new: str) -> int:
    """Replace the first ``old`` in the config with ``new``; return the line it starts on."""
    config = root / "pyproject.toml"
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


ASR = 'name = "asr"\ntag = "cuda"'


@pytest.mark.parametrize(
    ("name", "tag", "bad"),
    [
        ("../../escape", "cuda", "name"),
        ("a/../../b", "cuda", "name"),
        ("/tmp/escape", "cuda", "name"),
        ("ASR", "cuda", "name"),
        ("asr", "cuda/../../x", "tag"),
        ("asr", ".hidden", "tag"),
    ],
    ids=["dotdot", "inner-dotdot", "absolute", "uppercase", "tag-slash", "tag-dot"],
)
@pytest.mark.parametrize("command", ["check", "compile"])
def test_invalid_reference_is_a_located_error_and_nothing_is_written(
    root: Path, tmp_path: Path, server: IndexServer, name: str, tag: str, bad: str, command: str
) -> None:
    line = edit(root, ASR, f'name = "{name}"\ntag = "{tag}"')
    parent = root.parent
    before = tree(parent)

    ran = cli(root, tmp_path, server).run(command)

    assert ran.returncode == 2, ran.stdout + ran.stderr
    where = line if bad == "name" else line + 1
    value = name if bad == "name" else tag
    what = "image name" if bad == "name" else "tag"
    expected = f"pyproject.toml:{where}: {what} {value!r}"
    assert expected in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr
    assert tree(parent) == before
    assert not (tmp_path / "escape-cuda.txt").exists()


def test_fallback_tag_is_checked_too(root: Path, tmp_path: Path, server: IndexServer) -> None:
    line = edit(root, 'tag = "cpu"\nparent = "base:cpu"', 'tag = "../cpu"\nparent = "base:cpu"')
    before = tree(root.parent)

    ran = cli(root, tmp_path, server).run("check")

    assert ran.returncode == 2, ran.stderr
    assert f"pyproject.toml:{line}: tag '../cpu' of image asr" in ran.stderr
    assert tree(root.parent) == before


@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_locks_folder_outside_is_refused(
    root: Path, tmp_path: Path, server: IndexServer, kind: str
) -> None:
    locks = "../outside" if kind == "relative" else str(tmp_path / "outside-locks")
    line = edit(
        root,
        'common = "requirements-common.txt"\n',
        f'common = "requirements-common.txt"\nlocks = "{locks}"\n',
    )
    line += 1
    before = tree(root.parent)

    ran = cli(root, tmp_path, server).run("compile")

    assert ran.returncode == 2, ran.stderr
    assert f"pyproject.toml:{line}: `locks` must be a folder inside the workspace" in ran.stderr
    assert tree(root.parent) == before
    assert not (tmp_path / "outside-locks").exists()


def test_symlinked_locks_folder_leading_outside_is_refused(
    root: Path, tmp_path: Path, server: IndexServer
) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (root / "locks").symlink_to(outside, target_is_directory=True)
    before = tree(root.parent)

    ran = cli(root, tmp_path, server).run("compile")

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert re.search(
        r"^error: locks/\S+: resolves to \S+/outside/\S+, outside the workspace: not written$",
        ran.stderr,
        re.M,
    ), ran.stderr
    assert "Traceback" not in ran.stderr
    assert tree(root.parent) == before
    assert list(outside.iterdir()) == []


def test_symlinked_lock_file_leading_outside_is_refused(
    root: Path, tmp_path: Path, server: IndexServer
) -> None:
    victim = root.parent / "victim.txt"
    victim.write_bytes(b"precious\n")
    (root / "locks").mkdir()
    (root / "locks" / "asr-cuda.txt").symlink_to(victim)
    before = tree(root.parent)

    ran = cli(root, tmp_path, server).run("compile")

    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "error: locks/asr-cuda.txt: resolves to " in ran.stderr, ran.stderr
    assert tree(root.parent) == before
    assert victim.read_bytes() == b"precious\n"


def test_symlink_inside_the_workspace_is_allowed(
    root: Path, tmp_path: Path, server: IndexServer
) -> None:
    (root / "real-locks").mkdir()
    (root / "locks").symlink_to(root / "real-locks", target_is_directory=True)

    ran = cli(root, tmp_path, server).run("compile")

    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert (root / "real-locks" / "asr-cuda.txt").is_file()


def test_duplicate_declaration_is_reported_at_the_second_one(
    root: Path, tmp_path: Path, server: IndexServer
) -> None:
    line = edit(root, ASR, 'name = "base"\ntag = "cuda"')
    lines = (root / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    first = lines.index('name = "base"') + 1
    before = tree(root.parent)

    ran = cli(root, tmp_path, server).run("check")

    assert ran.returncode == 2, ran.stderr
    assert (
        f"pyproject.toml:{line}: image base:cuda is declared twice (first at line {first})"
        in ran.stderr
    ), ran.stderr
    assert tree(root.parent) == before
