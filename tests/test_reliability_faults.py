"""Item 2 of the reliability suite: index faults during ``compile``, end to end.

``tests/test_index_faults.py`` shows each fault at the client; here the whole compile meets
them. The workspace is compiled once (the "previous" locks), then an input changes so that the
asr images need ``colorama`` from the index, and the recompile runs against a cold cache with
a fault switched on for colorama's page, file or metadata file. A transient fault must end in
locks byte-identical to a compile that met no fault; a permanent one in an
``IndexFetchError`` naming the URL, with every byte of the workspace as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from lockaudit.errors import IndexFetchError
from lockaudit.index.transport import RetryPolicy
from lockaudit.locks import read_lock
from tests.corpus.harness import (
    Cli,
    cli_env,
    compile_in_process,
    lock_bytes,
    make_workspace,
    reliability_scenario,
    snapshot,
)
from tests.indexserver import IndexServer, Scenario

START = "whisperx==3.1.1\n"
CHANGED = "whisperx==3.1.1\ncolorama\n"
SOUNDFILE = "whisperx==3.1.1\nsoundfile\n"
COLORAMA_WHEEL = "colorama-0.4.6-py3-none-any.whl"


@pytest.fixture(scope="module")
def shared() -> Iterator[IndexServer]:
    with IndexServer(reliability_scenario()) as running:
        yield running


@pytest.fixture
def server(shared: IndexServer, hermetic_pip: None) -> Iterator[IndexServer]:
    """The module's index, with no fault and zeroed counters for each test."""
    shared.clear_faults()
    shared.reset_counters()
    yield shared
    shared.clear_faults()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, shared: IndexServer) -> Path:
    """The workspace compiled with START (the "previous" locks), its cache removed."""
    root = make_workspace(tmp_path_factory.mktemp("base") / "ws", shared)
    assert compile_in_process(root, shared).ok
    shutil.rmtree(root / ".cache")
    return root


@pytest.fixture(scope="module")
def expected(
    tmp_path_factory: pytest.TempPathFactory, base: Path, shared: IndexServer
) -> dict[str, bytes]:
    """The locks the changed workspace compiles to when nothing goes wrong."""
    root = tmp_path_factory.mktemp("clean") / "ws"
    shutil.copytree(base, root)
    (root / "docker/asr/requirements.txt").write_text(CHANGED)
    assert compile_in_process(root, shared).ok
    return lock_bytes(root)


def _changed(base: Path, tmp_path: Path, requirements: str = CHANGED) -> Path:
    """A copy of the compiled workspace whose asr requirements changed (not compiled yet)."""
    root = tmp_path / "ws"
    shutil.copytree(base, root)
    (root / "docker/asr/requirements.txt").write_text(requirements)
    return root


def _fault(server: IndexServer, kind: str, path: str, times: int) -> None:
    match kind:
        case "500" | "502" | "503" | "429":
            server.fail(path, times, int(kind))
        case "reset":
            server.reset(path, times)
        case "truncate":
            server.truncate(path, times)


KINDS = ["500", "502", "503", "429", "reset", "truncate"]
PAGE = IndexServer.page_path("default", "colorama")
METADATA = IndexServer.file_path("default", COLORAMA_WHEEL) + ".metadata"
TARGETS = {"page": PAGE, "metadata": METADATA}
# Attempts the client makes: the retry policy's for pages, two for a declared PEP 658 file.
ATTEMPTS = {"page": 3, "metadata": 2}


FAULTS = [
    *(pytest.param("page", kind, id=f"page-{kind}") for kind in KINDS),
    *(
        pytest.param("metadata", kind, id=f"metadata-{kind}")
        for kind in ("500", "reset", "truncate")
    ),
]


@pytest.mark.parametrize(("where", "kind"), FAULTS)
def test_transient_fault_retries_to_the_same_locks(
    base: Path,
    tmp_path: Path,
    server: IndexServer,
    expected: dict[str, bytes],
    kind: str,
    where: str,
) -> None:
    root = _changed(base, tmp_path)
    _fault(server, kind, TARGETS[where], ATTEMPTS[where] - 1)  # the last attempt succeeds
    result = compile_in_process(root, server, cache=tmp_path / "cold")
    assert result.ok
    assert lock_bytes(root) == expected
    assert server.requests[TARGETS[where]] == ATTEMPTS[where]


@pytest.mark.parametrize(("where", "kind"), FAULTS)
def test_permanent_fault_is_an_error_and_the_old_locks_stay(
    base: Path, tmp_path: Path, server: IndexServer, kind: str, where: str
) -> None:
    root = _changed(base, tmp_path)
    before = snapshot(root)
    _fault(server, kind, TARGETS[where], -1)
    with pytest.raises(IndexFetchError) as caught:
        compile_in_process(root, server, cache=tmp_path / "cold")
    assert caught.value.url == server.base_url + TARGETS[where]
    assert snapshot(root) == before


def test_a_5xx_storm_on_every_page_is_an_error_and_the_old_locks_stay(
    base: Path, tmp_path: Path, server: IndexServer
) -> None:
    root = _changed(base, tmp_path)
    before = snapshot(root)
    for project in ("colorama", "whisperx", "numpy", "rich", "tqdm", "torch", "filelock"):
        server.fail(server.page_path("default", project), -1, 503)
    for index in ("pytorch-cu121", "pytorch-cpu"):
        server.fail(server.page_path(index, "torch"), -1, 503)
    with pytest.raises(IndexFetchError):
        compile_in_process(root, server, cache=tmp_path / "cold")
    assert snapshot(root) == before


def test_timeouts_are_an_error_and_the_old_locks_stay(
    base: Path, tmp_path: Path, server: IndexServer
) -> None:
    root = _changed(base, tmp_path)
    before = snapshot(root)
    server.delay(PAGE, 1.0)
    short = RetryPolicy(attempts=2, backoff=0.01, connect_timeout=1, read_timeout=0.2)
    with pytest.raises(IndexFetchError) as caught:
        compile_in_process(root, server, cache=tmp_path / "cold", retry=short)
    assert "timed out" in caught.value.message
    assert snapshot(root) == before


def test_metadata_with_a_wrong_hash_is_never_locked(
    base: Path,
    tmp_path: Path,
    server: IndexServer,
    expected: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = _changed(base, tmp_path)
    before = snapshot(root)
    server.wrong_metadata_hash(COLORAMA_WHEEL)
    cache = tmp_path / "cold"
    with pytest.raises(IndexFetchError) as caught:
        compile_in_process(root, server, cache=cache)
    assert "sha256" in caught.value.message
    assert snapshot(root) == before
    # Nothing unverified was cached either: once the index is fixed (and the cached page, which
    # holds the wrong declared hash, expired) the same cache gives the right locks.
    server.clear_faults()
    monkeypatch.setenv("LOCKAUDIT_PAGE_TTL", "0")
    assert compile_in_process(root, server, cache=cache).ok
    assert lock_bytes(root) == expected


def test_a_truncated_wheel_is_never_locked_when_ranges_are_refused(
    base: Path, tmp_path: Path, server: IndexServer
) -> None:
    """Without ranges the client downloads the wheel: it is verified against its sha256."""
    root = _changed(base, tmp_path, SOUNDFILE)
    before = snapshot(root)
    server.ranges(False)
    wheel = server.file_path("default", "soundfile-0.12.1-py3-none-any.whl")
    server.truncate(wheel, -1)
    with pytest.raises(IndexFetchError) as caught:
        compile_in_process(root, server, cache=tmp_path / "cold")
    assert caught.value.url == server.base_url + wheel
    assert snapshot(root) == before


def test_an_index_that_changes_between_requests_gives_one_consistent_view(
    tmp_path: Path, index_server: Callable[[Scenario], IndexServer], hermetic_pip: None
) -> None:
    """The first answer for soundfile hides 0.12.1; later answers show it.

    One compile asks for a page once, so the lock is the first view, with that release's true
    hashes; a later compile keeps the pin (no churn) until an upgrade is asked for.
    """
    server = index_server(reliability_scenario())  # its own: the page-hit count matters
    root = make_workspace(tmp_path / "ws", server)
    (root / "docker/asr/requirements.txt").write_text(SOUNDFILE)
    server.change_page("default", "soundfile")
    page = server.page_path("default", "soundfile")
    assert compile_in_process(root, server, cache=tmp_path / "first").ok
    assert server.requests[page] == 1
    locked = read_lock(root / "locks/asr-cuda.txt").package("soundfile")
    assert locked is not None and str(locked.version) == "0.12.0"
    built = server.built("default", "soundfile-0.12.0-py3-none-any.whl")
    assert locked.hashes == (built.sha256,)
    before = lock_bytes(root)
    # Unchanged inputs would make the next compile a no-op that asks nothing; upgrading an
    # unrelated package sends every image back to the resolver, which reads the new view.
    other = canonicalize_name("numpy")
    assert compile_in_process(
        root, server, cache=tmp_path / "second", upgrade_packages=frozenset({other})
    ).ok
    assert server.requests[page] == 2  # the second view (0.12.1 listed) was read...
    assert lock_bytes(root) == before  # ...and the lock did not move
    assert compile_in_process(root, server, cache=tmp_path / "third", upgrade=True).ok
    upgraded = read_lock(root / "locks/asr-cuda.txt").package("soundfile")
    assert upgraded is not None and str(upgraded.version) == "0.12.1"


def test_cli_permanent_fault_exits_2_naming_the_url(
    base: Path, tmp_path: Path, server: IndexServer
) -> None:
    root = _changed(base, tmp_path)
    before = snapshot(root)
    server.fail(PAGE, -1, 503)
    process = Cli(root, cli_env(server, tmp_path / "cold")).run("compile")
    assert process.returncode == 2, process.stderr
    assert f"error: {server.base_url}{PAGE}: " in process.stderr
    assert "Traceback" not in process.stderr
    assert snapshot(root) == before
