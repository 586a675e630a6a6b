"""Locks tampered with so that every body digest still holds: the gate cross-verifies files.

A body digest is a checksum anyone can recompute. Each test edits one file of an image's lock,
writes its ``# body-digest:`` again exactly as the writer does (sha256 of everything after the
header), and expects ``lockaudit check`` to fail with a ``lock-inconsistent`` finding at the
line that differs: the full lock, the layer lock and the pylock must pin the same packages,
versions and hashes, and the layer lock exactly the full lock minus the parent's full lock.

The workspace is compiled once against the loopback index (real wheels and hashes); each test
edits a copy. ``check`` runs through the CLI application in this process (its JSON findings are
the contract).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockaudit.locks import parse_lock, read_lock
from tests.corpus.harness import (
    check_json,
    compile_in_process,
    make_workspace,
    reliability_scenario,
)
from tests.indexserver import IndexServer

FULL = "locks/asr-cuda.txt"
LAYER = "locks/asr-cuda.layer.txt"
PARENT = "locks/base-ml-cuda.txt"
PYLOCK = "locks/pylock.asr-cuda.toml"


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with IndexServer(reliability_scenario()) as server:
        root = make_workspace(tmp_path_factory.mktemp("tamper") / "ws", server)
        assert compile_in_process(root, server).ok
        yield root


@pytest.fixture
def root(good: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(good, copy)
    return copy


def check(root: Path) -> tuple[int, list[dict[str, Any]]]:
    return check_json(root, no_cache=True)


def errors(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in findings if f["severity"] == "error"]


def redigest(text: str, path: str) -> str:
    """The lock with its ``# body-digest:`` recomputed over its (edited) body, as written."""
    body = parse_lock(text, path).body
    digest = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    return re.sub(r"(?m)^# body-digest: .*$", f"# body-digest: {digest}", text, count=1)


def line_of(text: str, prefix: str) -> int:
    return next(n for n, line in enumerate(text.split("\n"), start=1) if line.startswith(prefix))


def line_with(text: str, needle: str) -> int:
    (number,) = [n for n, line in enumerate(text.split("\n"), start=1) if needle in line]
    return number


def test_the_recomputed_digest_alone_would_pass(root: Path) -> None:
    """The edit helper is faithful: an unedited lock re-digested is byte for byte the same."""
    text = (root / LAYER).read_text()
    assert redigest(text, LAYER) == text
    added = text + "\nevil==1.0\n    # index: default\n"
    assert not parse_lock(redigest(added, LAYER), LAYER).tampered


def test_a_package_added_only_to_the_layer_lock_fails_the_gate(root: Path) -> None:
    path = root / LAYER
    entry = "evil==1.0 \\\n    --hash=sha256:" + "ab" * 32 + "\n    # index: default\n\n"
    edited = redigest(
        path.read_text().replace("\nwhisperx==", "\n" + entry + "whisperx==", 1), LAYER
    )
    path.write_text(edited)
    code, findings = check(root)
    assert code == 1
    assert [(f["rule"], f["location"]) for f in errors(findings)] == [
        ("lock-inconsistent", f"{LAYER}:{line_of(edited, 'evil==1.0')}")
    ]
    assert "evil==1.0" in errors(findings)[0]["message"]


def test_a_parent_package_moved_into_the_layer_lock_fails_the_gate(root: Path) -> None:
    """A package the parent installs does not belong to the child's layer, even pinned alike."""
    parent = (root / PARENT).read_text()
    numpy = parent[parent.index("\nnumpy==") + 1 :].split("\n\n", 1)[0]
    numpy = "\n".join(line for line in numpy.split("\n") if not line.startswith("    # via"))
    path = root / LAYER
    edited = redigest(
        path.read_text().replace("\nwhisperx==", f"\n{numpy}\n\nwhisperx==", 1), LAYER
    )
    path.write_text(edited)
    code, findings = check(root)
    assert code == 1
    (found,) = errors(findings)
    assert (found["rule"], found["location"]) == (
        "lock-inconsistent",
        f"{LAYER}:{line_of(edited, 'numpy==')}",
    )
    assert "parent" in found["message"]


def test_a_hash_changed_only_in_the_pylock_fails_the_gate(root: Path) -> None:
    path = root / PYLOCK
    text = path.read_text()
    whisperx = read_lock(root / FULL).package("whisperx")
    assert whisperx is not None
    (digest,) = whisperx.hashes
    forged = ("0" if digest[0] != "0" else "1") + digest[1:]
    assert text.count(digest) == 1
    edited = text.replace(digest, forged)
    path.write_text(edited)
    code, findings = check(root)
    assert code == 1
    assert [(f["rule"], f["location"]) for f in errors(findings)] == [
        ("lock-inconsistent", f"{PYLOCK}:{line_with(edited, forged)}")
    ]


def test_a_layer_package_removed_from_the_layer_lock_fails_the_gate(root: Path) -> None:
    """whisperx is asr:cpu's own (its parent base:cpu does not pin it): the layer must keep it."""
    full_path, layer_path = "locks/asr-cpu.txt", "locks/asr-cpu.layer.txt"
    assert read_lock(root / "locks/base-cpu.txt").package("whisperx") is None
    path = root / layer_path
    text = path.read_text()
    start = text.index("\nwhisperx==") + 1
    end = text.find("\n\n", start)
    edited = redigest(text[:start] + (text[end + 2 :] if end != -1 else ""), layer_path)
    path.write_text(edited)
    assert "\nwhisperx==" not in edited and "\ntorch==" in edited
    code, findings = check(root)
    assert code == 1
    full = (root / full_path).read_text()
    (found,) = errors(findings)
    assert (found["rule"], found["location"]) == (
        "lock-inconsistent",
        f"{full_path}:{line_of(full, 'whisperx==')}",
    )
    assert layer_path in found["message"] and "whisperx" in found["message"]


def test_an_untouched_workspace_passes_the_gate(root: Path) -> None:
    code, findings = check(root)
    assert code == 0
    assert not errors(findings)
