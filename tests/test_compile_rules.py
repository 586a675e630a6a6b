"""The lock rules of ``check``: silent on a fresh compile, each one firing on a crafted case.

The workspace is compiled once against the loopback index (see ``test_compile``); each test
copies it and breaks one thing. Locks are re-rendered with lockaudit's own writer where the
case is "a lock lockaudit could have written" (missing hash, wrong index, not a superset), and
edited as text where the case is a hand edit.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lockaudit.locks import Lock, lock_paths, read_lock, render_all, render_layer_lock
from lockaudit.rules import run_checks
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace.config import load_workspace
from tests.test_compile import Env, compiled, server  # noqa: F401  (fixtures)

LOCK_RULES = (
    "lock-missing",
    "lock-stale",
    "lock-not-superset",
    "lock-hash-missing",
    "lock-provenance",
    "lock-tampered",
    "dockerfile-not-from-lock",
)


@pytest.fixture
def root(compiled: Env, tmp_path: Path) -> Path:  # noqa: F811
    copy = tmp_path / "ws"
    shutil.copytree(compiled.root, copy, ignore=shutil.ignore_patterns(".cache"))
    return copy


def _check(root: Path) -> list[Finding]:
    return list(run_checks(load_workspace(root), select=LOCK_RULES))


def _rewrite(root: Path, key: str, change: Callable[[Lock], Lock]) -> None:
    """Write an image's three lock files again from a changed Lock (digests stay coherent)."""
    workspace = load_workspace(root)
    image = workspace.image(key)
    lock = read_lock(root / lock_paths(workspace, image).full)
    for path, data in render_all(workspace, image, change(lock)).items():
        (root / path).write_bytes(data)


def _replace_package(lock: Lock, name: str, **changes: Any) -> Lock:
    packages = tuple(replace(p, **changes) if p.name == name else p for p in lock.packages)
    return replace(lock, packages=packages)


def _only(findings: list[Finding], rule: str) -> list[Finding]:
    assert {f.rule for f in findings} == {rule}, findings
    return findings


def test_fresh_compile_is_clean(root: Path) -> None:
    assert _check(root) == []


def test_lock_missing(root: Path) -> None:
    (root / "locks/asr-cuda.layer.txt").unlink()
    (found,) = _only(_check(root), "lock-missing")
    assert found.image == "asr:cuda" and str(found.location) == "locks/asr-cuda.layer.txt"


def test_lock_stale_names_the_changed_input(root: Path) -> None:
    path = root / "docker/asr/requirements.txt"
    path.write_text(path.read_text() + "# a comment is a change too\n")
    findings = _only(_check(root), "lock-stale")
    assert [f.image for f in findings] == ["asr:cpu", "asr:cuda"]
    assert all("docker/asr/requirements.txt changed" in f.message for f in findings)
    assert findings[1].location.path == "locks/asr-cuda.txt"


def test_lock_stale_when_the_parent_lock_changes(root: Path) -> None:
    _rewrite(root, "base-ml:cuda", lambda lock: _replace_package(lock, "filelock", required_by=()))
    findings = _only(_check(root), "lock-stale")
    assert [f.image for f in findings] == ["asr:cuda"]
    assert "locks/base-ml-cuda.txt changed" in findings[0].message


def test_lock_stale_when_layer_lock_is_from_another_compile(root: Path) -> None:
    lock = read_lock(root / "locks/asr-cuda.txt")
    old = replace(lock, inputs_digest="sha256:" + "e" * 64)
    layer = root / "locks/asr-cuda.layer.txt"
    layer.write_bytes(render_layer_lock(old, "locks/asr-cuda.txt"))
    (found,) = _only(_check(root), "lock-stale")
    assert found.location.path == "locks/asr-cuda.layer.txt"
    assert "was not written with locks/asr-cuda.txt" in found.message


def test_lock_not_superset(root: Path) -> None:
    def other_hashes(lock: Lock) -> Lock:
        numpy = lock.package("numpy")
        assert numpy is not None
        files = tuple(replace(f, sha256="0" * 64) for f in numpy.files)
        return _replace_package(lock, "numpy", files=files)

    _rewrite(root, "asr:cuda", other_hashes)
    (found,) = _only(_check(root), "lock-not-superset")
    assert found.package == "numpy" and found.image == "asr:cuda"
    assert found.location.path == "locks/asr-cuda.txt" and found.location.line > 1
    assert "locks/base-ml-cuda.txt" in found.message


def test_lock_hash_missing(root: Path) -> None:
    def strip(lock: Lock) -> Lock:
        whisperx = lock.package("whisperx")
        assert whisperx is not None
        return _replace_package(
            lock, "whisperx", files=tuple(replace(f, sha256=None) for f in whisperx.files)
        )

    _rewrite(root, "asr:cuda", strip)
    (found,) = _only(_check(root), "lock-hash-missing")
    assert found.package == "whisperx"
    text = (root / "locks/asr-cuda.txt").read_text().split("\n")
    assert text[found.location.line - 1].startswith("whisperx==3.1.1")


def test_lock_provenance(root: Path, compiled: Env) -> None:  # noqa: F811
    default = compiled.server.index_url("default")

    def reroute(lock: Lock) -> Lock:
        torch = lock.package("torch")
        assert torch is not None
        files = tuple(
            replace(f, index=default, url=f"{default}/../files/{f.filename}") for f in torch.files
        )
        return _replace_package(lock, "torch", index=default, files=files)

    _rewrite(root, "asr:cuda", reroute)
    (found,) = _only(_check(root), "lock-provenance")
    assert found.package == "torch" and "pytorch-cu121" in found.message


def test_lock_tampered_names_the_edited_line(root: Path) -> None:
    path = root / "locks/asr-cuda.txt"
    lines = path.read_text().split("\n")
    edited = lines.index("whisperx==3.1.1 \\")
    lines[edited] = "whisperx==3.1.2 \\"
    path.write_text("\n".join(lines))
    findings = [f for f in _check(root) if f.rule == "lock-tampered"]
    assert [(f.location.path, f.location.line) for f in findings] == [
        ("locks/asr-cuda.txt", edited + 1)
    ]


def test_lock_tampered_when_a_line_is_removed(root: Path) -> None:
    path = root / "locks/asr-cuda.layer.txt"
    lines = path.read_text().split("\n")
    via = next(i for i, line in enumerate(lines) if line.strip().startswith("# via"))
    del lines[via]
    path.write_text("\n".join(lines))
    (found,) = _only(_check(root), "lock-tampered")
    assert (found.location.path, found.location.line) == ("locks/asr-cuda.layer.txt", via + 1)


def test_lock_tampered_when_unreadable(root: Path) -> None:
    path = root / "locks/base-cpu.txt"
    path.write_text(path.read_text().replace("numpy==1.24.3", "numpy = 1.24.3"))
    findings = [f for f in _check(root) if f.rule == "lock-tampered"]
    assert [f.location.path for f in findings] == ["locks/base-cpu.txt"]
    assert findings[0].location.line > 1


def test_dockerfile_not_from_lock(root: Path) -> None:
    (root / "docker/asr/Dockerfile").write_text(
        "ARG PARENT_IMAGE=base-ml:cuda\n"
        "FROM ${PARENT_IMAGE}\n"
        "COPY docker/asr/requirements.txt /tmp/requirements.txt\n"
        "RUN pip install --upgrade pip\n"
        "RUN pip install -r /tmp/requirements.txt\n"
    )
    findings = _only(_check(root), "dockerfile-not-from-lock")
    assert {f.image for f in findings} == {"asr:cuda", "asr:cpu"}
    assert {str(f.location) for f in findings} == {"docker/asr/Dockerfile:5"}


def test_dockerfile_lock_without_require_hashes_fails_the_gate(root: Path) -> None:
    path = root / "docker/base-ml/Dockerfile"
    path.write_text(path.read_text().replace(" --require-hashes", ""))
    (found,) = _only(_check(root), "dockerfile-not-from-lock")
    assert found.severity is Severity.ERROR and found.image == "base-ml:cuda"
