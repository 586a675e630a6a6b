"""The `check` result cache: reused only while no file changed, never stale after an edit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lockaudit.errors import Location
from lockaudit.rules.findings import Finding, Severity
from lockaudit.workspace import checkcache


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKAUDIT_CACHE_DIR", str(tmp_path / "cache"))


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "locks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.lockaudit]\n")
    (root / "locks/a.txt").write_text("numpy==1.26.4 --hash=sha256:aaaa\n")
    (root / ".venv").mkdir()
    (root / ".venv/ignored").write_text("x")
    return root


FINDING = Finding(
    "lock-stale", Severity.ERROR, "stale", Location("locks/a.txt", 3), "asr:cuda", "numpy", "hint"
)


def test_findings_round_trip_under_the_same_key(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    key = checkcache.workspace_key(root, ["|"])
    assert checkcache.load(key) is None
    checkcache.store(key, [FINDING])
    assert checkcache.load(checkcache.workspace_key(root, ["|"])) == (FINDING,)
    # other options are another question
    assert checkcache.workspace_key(root, ["lock-stale", "|"]) != key


def test_an_edit_of_the_same_size_in_the_same_instant_changes_the_key(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    lock = root / "locks/a.txt"
    stat = lock.stat()
    key = checkcache.workspace_key(root, [])
    lock.write_text(lock.read_text().replace("aaaa", "aaab"))  # same size
    os.utime(lock, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same time stamp
    assert checkcache.workspace_key(root, []) != key


def test_added_and_removed_files_change_the_key_but_hidden_folders_do_not(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    key = checkcache.workspace_key(root, [])
    (root / ".venv/more").write_text("y")
    assert checkcache.workspace_key(root, []) == key
    (root / "locks/b.txt").write_text("")
    added = checkcache.workspace_key(root, [])
    assert added != key
    (root / "locks/b.txt").unlink()
    assert checkcache.workspace_key(root, []) == key


def test_a_corrupt_entry_is_a_miss(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    key = checkcache.workspace_key(root, [])
    checkcache.store(key, [FINDING])
    (tmp_path / "cache/check" / key).write_text("{not json")
    assert checkcache.load(key) is None


def test_a_touched_file_keeps_the_key_and_an_edit_behind_the_index_changes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _workspace(tmp_path)
    lock = root / "locks/a.txt"
    key = checkcache.workspace_key(root, [])
    # Out of the racy window (files changed in the last seconds are always read), the index
    # answers for every file whose status is unchanged: nothing is read again.
    monkeypatch.setattr(checkcache, "_RACY_NS", 0)
    assert checkcache.workspace_key(root, []) == key
    read: list[str] = []
    real = checkcache._content_digest
    monkeypatch.setattr(checkcache, "_content_digest", lambda p: read.append(p) or real(p))
    assert checkcache.workspace_key(root, []) == key
    assert read == []
    time.sleep(0.05)  # past the file system's time stamp tick
    stat = lock.stat()
    os.utime(lock, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a touch
    assert checkcache.workspace_key(root, []) == key  # same bytes, same answer
    assert read == [str(lock)]
    time.sleep(0.05)
    stat = lock.stat()
    lock.write_text(lock.read_text().replace("aaaa", "aaab"))  # same size
    os.utime(lock, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the indexed time stamp
    assert checkcache.workspace_key(root, []) != key  # the change time moved


def test_a_corrupt_stat_index_only_costs_a_rehash(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    key = checkcache.workspace_key(root, [])
    for index in (tmp_path / "cache/check").glob("index-*"):
        index.write_text('{"locks/a.txt": [1, 2, 3, 4, "0000"]}')
    assert checkcache.workspace_key(root, []) == key
