"""Items 3 and 4 of the reliability suite: SIGKILL mid-compile, and compiles racing each other.

Interruption: a workspace compiled with the old inputs gets new ones, then ``lockaudit
compile`` runs as a child against a slowed loopback index and is killed with SIGKILL at a
random moment (seeded; spread over a whole unkilled run, so some kills land before, during and
after the write). After each kill every lock file is byte-identical to the old lock or to the
new one, no temporary file is left beside them, and a compile with the same cache then
finishes with exactly the new locks.

Concurrency: several ``lockaudit compile`` children on one workspace and one cold cache at
once must all succeed, leave the locks a single run writes (byte for byte), no temporary
file, and a cache whose every entry is whole (its recorded sha256 and length match).

Decisions: the twenty kills are ``-m slow`` (half a minute on two busy cores); the default
run kills four times with another seed. Kills run four at a time, each on its own copy of the
workspace and its own cache; the seed is in the assertion message so a failure can be replayed.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.corpus.harness import (
    Cli,
    cli_env,
    compile_in_process,
    lock_bytes,
    make_workspace,
    reliability_scenario,
    snapshot,
)
from tests.indexserver import IndexServer

KILLS = 20
SEED = 20240611
NEW = "whisperx==3.1.1\ncolorama\nsoundfile\n"
SLOW_PAGES = ("colorama", "soundfile", "whisperx", "numpy", "filelock")


@pytest.fixture(scope="module")
def server() -> Iterator[IndexServer]:
    with IndexServer(reliability_scenario()) as running:
        # Slow enough that a compile takes a while, fast enough for twenty of them.
        for project in SLOW_PAGES:
            running.delay(running.page_path("default", project), 0.15)
        yield running


@dataclass(frozen=True)
class Locks:
    root: Path  # the old workspace: compiled with the old inputs, then given the new ones
    old: dict[str, bytes]
    new: dict[str, bytes]


@pytest.fixture(scope="module")
def locks(tmp_path_factory: pytest.TempPathFactory, server: IndexServer) -> Locks:
    root = make_workspace(tmp_path_factory.mktemp("old") / "ws", server)
    assert compile_in_process(root, server).ok
    shutil.rmtree(root / ".cache")
    old = lock_bytes(root)
    (root / "docker/asr/requirements.txt").write_text(NEW)
    fresh = tmp_path_factory.mktemp("new") / "ws"
    shutil.copytree(root, fresh)
    assert compile_in_process(fresh, server).ok
    new = lock_bytes(fresh)
    assert set(old) == set(new) and old != new
    return Locks(root, old, new)


def _kill_once(locks: Locks, server: IndexServer, work: Path, delay: float) -> str | None:
    """Compile, SIGKILL after ``delay`` seconds; what is wrong, or None when every lock on disk
    is the old or the new one."""
    root = work / "ws"
    shutil.copytree(locks.root, root)
    cache = work / "cache"
    process = Cli(root, cli_env(server, cache)).popen("compile")
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    on_disk = lock_bytes(root)
    for name, data in on_disk.items():
        if data not in (locks.old.get(name), locks.new.get(name)):
            return f"{name} is neither the old nor the new lock (killed after {delay:.2f}s)"
    if set(on_disk) != set(locks.new):
        return f"lock files {sorted(set(locks.new) ^ set(on_disk))} appeared or vanished"
    return None


@pytest.mark.slow
def test_sigkill_20_times_never_leaves_a_partial_lock(
    locks: Locks, server: IndexServer, tmp_path: Path
) -> None:
    _kill_many(locks, server, tmp_path, KILLS, SEED)


def test_sigkill_a_few_times_never_leaves_a_partial_lock(
    locks: Locks, server: IndexServer, tmp_path: Path
) -> None:
    """The default run's share of the twenty kills (another seed each day would be flaky)."""
    _kill_many(locks, server, tmp_path, 4, SEED + 1)


def _kill_many(locks: Locks, server: IndexServer, tmp_path: Path, kills: int, seed: int) -> None:
    started = time.monotonic()
    timed = tmp_path / "timed"
    shutil.copytree(locks.root, timed)
    process = Cli(timed, cli_env(server, tmp_path / "timing-cache")).popen("compile")
    process.wait()
    span = time.monotonic() - started  # how long one unkilled run takes here, now
    assert process.returncode == 0
    rng = random.Random(seed)
    delays = [rng.uniform(0.0, span * 1.1) for _ in range(kills)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        problems = list(
            pool.map(
                lambda item: _kill_once(locks, server, tmp_path / f"kill-{item[0]}", item[1]),
                enumerate(delays),
            )
        )
    found = [p for p in problems if p is not None]
    assert not found, (seed, found)
    # The cache each killed run left behind serves the next compile, which writes the new locks.
    for number in range(kills):
        work = tmp_path / f"kill-{number}"
        assert compile_in_process(work / "ws", server, cache=work / "cache").ok, number
        assert lock_bytes(work / "ws") == locks.new, number


def _cache_entries_are_whole(cache: Path) -> int:
    """Check every entry against the format of ``lockaudit.index.cache``; return the count."""
    count = 0
    for path in (cache / "v1").rglob("*"):
        if not path.is_file():
            continue
        assert not path.name.startswith(".tmp-"), path  # a temporary file left behind
        data = path.read_bytes()
        magic, header_line, body = data.split(b"\n", 2)
        assert magic == b"lockaudit-cache 1", path
        header = json.loads(header_line)
        assert header["length"] == len(body), path
        assert header["sha256"] == hashlib.sha256(body).hexdigest(), path
        count += 1
    return count


def test_concurrent_compiles_agree_with_a_single_run(
    locks: Locks, server: IndexServer, tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(locks.root, root)
    cache = tmp_path / "cache"
    cli = Cli(root, cli_env(server, cache))
    processes = [cli.popen("compile") for _ in range(4)]
    errors = [process.communicate()[1].decode() for process in processes]
    assert [p.returncode for p in processes] == [0] * 4, errors
    assert lock_bytes(root) == locks.new
    assert _cache_entries_are_whole(cache) > 10
    # A workspace file other than the locks was never touched, and no temporary file is left.
    files = snapshot(root)
    assert not [name for name in files if Path(name).name.startswith(".")]
    # And the shared cache answers a later run by itself: not one request to the index.
    server.reset_counters()
    assert compile_in_process(root, server, cache=cache).ok
    assert server.total_requests() == 0
    assert lock_bytes(root) == locks.new
