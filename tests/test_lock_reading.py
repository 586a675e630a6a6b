"""How `check` reads locks fast: shared entries, the requirements view, the parsed-lock cache.

The embedded workspace's committed locks are the material: they are real, layered and clean
(`lockaudit check` reports nothing on them), so every shortcut here must give what the plain
parsers give on them, and an edit must never be hidden by a cached parse.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from lockaudit import render
from lockaudit.errors import InputError, Location
from lockaudit.locks import LockMemo, load_lock, lock_requirements, parse_lock, render_lock
from lockaudit.parsing.requirements import parse_requirements
from lockaudit.rules import run_checks
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace import parsecache
from lockaudit.workspace.config import load_workspace
from tests.test_lockfile import _lock

REPO = Path(__file__).resolve().parent.parent
LOCKS = sorted((REPO / "locks").glob("*.txt"))


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKAUDIT_CACHE_DIR", str(tmp_path / "cache"))


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_embedded_workspace_has_layered_locks_to_read() -> None:
    assert len(LOCKS) >= 20
    assert any(path.name.endswith(".layer.txt") for path in LOCKS)


@pytest.mark.parametrize("path", LOCKS, ids=lambda p: p.name)
def test_the_requirements_view_of_a_lock_is_what_pip_format_parsing_gives(path: Path) -> None:
    text = load_lock(path, display=_shown(path))
    assert not text.tampered
    assert lock_requirements(text) == parse_requirements(REPO, _shown(path))


def test_the_requirements_view_keeps_extra_indexes_and_every_hash(tmp_path: Path) -> None:
    lock = _lock()  # an extra index, a package with two files (two --hash lines)
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks/asr-cuda.txt").write_bytes(render_lock(lock))
    text = load_lock(tmp_path / "locks/asr-cuda.txt", display="locks/asr-cuda.txt")
    view = lock_requirements(text)
    assert view == parse_requirements(tmp_path, "locks/asr-cuda.txt")
    assert view.options.extra_index_urls == lock.index_urls
    assert max(len(line.hashes) for line in view.requirements) == 2


def test_locks_read_with_one_memo_share_entries_and_equal_a_plain_read() -> None:
    memo = LockMemo()
    shared = {path: load_lock(path, display=_shown(path), memo=memo) for path in LOCKS}
    for path, text in shared.items():
        assert text == load_lock(path, display=_shown(path)), path
    entries = sum(len(text.lock.packages) for text in shared.values())
    assert len(memo.entries) < entries / 2  # children repeat their ancestors' entries
    # a layer lock's entries are the very objects of its full lock's own entries
    full = shared[REPO / "locks/asr-cuda.txt"].lock
    layer = shared[REPO / "locks/asr-cuda.layer.txt"].lock
    assert layer.packages
    assert all(p is full.package(p.name) for p in layer.packages)


def test_a_memo_never_hides_a_broken_entry() -> None:
    text = (REPO / "locks/asr-cuda.layer.txt").read_text()
    memo = LockMemo()
    parse_lock(text, "locks/asr-cuda.layer.txt", memo)
    mark = "\n    --hash=sha256:"
    first = text.index(mark)
    broken = text[:first] + mark + "zz" + text[first + len(mark) + 64 :]
    with pytest.raises(InputError) as raised:
        parse_lock(broken, "locks/asr-cuda.layer.txt", memo)
    assert raised.value.location.line == broken[: broken.index("sha256:zz")].count("\n") + 1


def test_an_annotation_after_a_blank_line_belongs_to_no_entry() -> None:
    text = (REPO / "locks/asr-cuda.layer.txt").read_text()
    at = text.index("    # via ")
    edited = text[:at] + "\n" + text[at:]
    with pytest.raises(InputError, match="must follow its package line") as raised:
        parse_lock(edited, "locks/asr-cuda.layer.txt")
    assert raised.value.location.line == edited[:at].count("\n") + 2


def _copy_workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("pyproject.toml", "versions.txt", "requirements-common.txt"):
        shutil.copy(REPO / name, root / name)
    for folder in ("docker", "constraints", "locks", "examples"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, root / folder)
    (root / "tests/data").mkdir(parents=True)  # what the repository's `exclude` of tests/ names
    (root / "tests/data/Dockerfile").write_text("FROM scratch\n")
    return root


def test_check_reads_locks_back_from_its_cache_and_never_misses_an_edit(tmp_path: Path) -> None:
    root = _copy_workspace(tmp_path)
    workspace = load_workspace(root)
    assert run_checks(workspace) == ()
    slots = list((tmp_path / "cache/parsed").iterdir())
    # one slot per workspace for the parsed locks, however many, one for the findings of
    # their cross-verification (lock-inconsistent), one for the parsed Dockerfiles
    assert len(slots) == 3
    assert run_checks(workspace) == ()  # read back from the slot
    assert [p.stat().st_mtime_ns for p in slots] == [
        p.stat().st_mtime_ns for p in (tmp_path / "cache/parsed").iterdir()
    ]

    lock = root / "locks/asr-cuda.layer.txt"
    original = lock.read_text()
    first = original.index("\n    --hash=sha256:") + len("\n    --hash=sha256:")
    flipped = "0" if original[first] != "0" else "1"
    lock.write_text(original[:first] + flipped + original[first + 1 :])
    found = run_checks(workspace)
    tampered = [f for f in found if f.rule == "lock-tampered"]
    assert [f.location.path for f in tampered] == ["locks/asr-cuda.layer.txt"]
    assert tampered[0].location.line == original[:first].count("\n") + 1

    lock.write_text(original)
    assert run_checks(workspace) == ()
    assert len(list((tmp_path / "cache/parsed").iterdir())) == 3  # overwritten, not grown


def test_check_never_misses_an_edit_of_a_dockerfile_it_has_parsed_before(tmp_path: Path) -> None:
    root = _copy_workspace(tmp_path)
    workspace = load_workspace(root)
    assert run_checks(workspace) == ()
    dockerfile = root / "docker/asr/Dockerfile"
    original = dockerfile.read_text()
    dockerfile.write_text(original + "RUN pip install --no-cache-dir requests\n")
    found = run_checks(workspace)
    assert "docker/asr/Dockerfile" in {f.location.path for f in found}
    dockerfile.write_text(original)
    assert run_checks(workspace) == ()
    assert len(list((tmp_path / "cache/parsed").iterdir())) == 3  # overwritten, not grown


def test_a_corrupt_or_truncated_cache_slot_is_parsed_again(tmp_path: Path) -> None:
    root = _copy_workspace(tmp_path)
    workspace = load_workspace(root)
    assert run_checks(workspace) == ()
    # the parsed locks' slot (the other holds lock-inconsistent's findings)
    name = hashlib.sha256(f"locks:{root.resolve()}".encode()).hexdigest()
    slot = tmp_path / "cache/parsed" / name
    data = slot.read_bytes()
    for damaged in (data[: len(data) // 2], data[:32] + b"\x80\x05garbage", b""):
        slot.write_bytes(damaged)
        assert run_checks(workspace) == ()
        assert slot.read_bytes() == data  # rewritten whole


def test_a_slot_value_is_used_only_under_its_own_key(tmp_path: Path) -> None:
    calls: list[str] = []

    def compute(value: str) -> str:
        calls.append(value)
        return value

    assert parsecache.cached_in_slot("s", b"key-1", lambda: compute("one")) == "one"
    assert parsecache.cached_in_slot("s", b"key-1", lambda: compute("again")) == "one"
    assert parsecache.cached_in_slot("s", b"key-2", lambda: compute("two")) == "two"
    assert parsecache.cached_in_slot("t", b"key-2", lambda: compute("other")) == "other"
    assert calls == ["one", "two", "other"]


FINDINGS = (
    Finding(
        "lock-stale",
        Severity.ERROR,
        "stale [not markup]",
        Location("locks/a.txt", 3),
        "a:b",
        hint="run `lockaudit compile`",
    ),
    Finding("unpinned-install", Severity.WARNING, "x>=1 allows a range", Location("r.txt", 2)),
    Finding("pin-drift", Severity.INFO, "drifts", Location("docker/a/Dockerfile", 9), "a:b"),
)


@pytest.mark.parametrize("items", [FINDINGS, ()], ids=["findings", "none"])
def test_plain_output_is_the_styled_output_without_styles(
    items: tuple[Finding, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    render.findings(items, render.Format.TEXT)  # captured stdout: not a terminal
    plain = capsys.readouterr().out
    styled = io.StringIO()
    console = Console(file=styled, color_system=None, highlight=False, soft_wrap=True)
    render.findings(items, render.Format.TEXT, out=console)
    assert plain == styled.getvalue()
    assert ("1 error, 1 warning, 1 info" in plain) if items else plain == "no findings\n"
    assert "[not markup]" in plain or not items


def test_a_slot_written_by_other_code_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a development checkout changes the code without changing the version
    assert len(parsecache.code_fingerprint()) == 64
    assert parsecache.cached_in_slot("s", b"k", lambda: "old code") == "old code"
    assert parsecache.cached_in_slot("s", b"k", lambda: "unused") == "old code"
    monkeypatch.setattr(parsecache, "code_fingerprint", lambda: "edited")
    assert parsecache.cached_in_slot("s", b"k", lambda: "new code") == "new code"


def test_each_value_of_a_per_key_slot_is_computed_only_when_its_key_is_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[bytes] = []

    def make(key: bytes) -> Callable[[], str]:
        return lambda: calls.append(key) or key.decode().upper()

    assert parsecache.cached_each("s", {b"a": make(b"a"), b"b": make(b"b")}) == {
        b"a": "A",
        b"b": "B",
    }
    assert parsecache.cached_each("s", {b"a": make(b"a"), b"c": make(b"c")}) == {
        b"a": "A",
        b"c": "C",
    }
    assert calls == [b"a", b"b", b"c"]  # `a` came from the slot the second time
    assert parsecache.cached_each("s", {b"b": make(b"b")}) == {b"b": "B"}
    assert calls[-1] == b"b"  # dropped when it was not asked for: the slot does not grow
