"""A cache never changes an answer: warm compiles give the cold compile's locks, byte for byte.

Mirrors are the setting that once leaked through the cache: project pages were cached under
the index URL a package is routed to, not the URL they were fetched from, so after a mirror of
the PyTorch index was removed (or added, or pointed elsewhere) a warm cache kept answering with
the other place's page (a bogus ``torch==2.1.0`` vs ``torch==2.1.0+cu121`` conflict in the
field). Here the CUDA index is mirrored to the CPU index (so the locks differ visibly: CPU
builds of torch in the CUDA images) and each warm compile after a change of mirrors is compared
with a cold compile under the same settings.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.corpus.harness import Cli, cli_env, lock_bytes, make_workspace, reliability_scenario
from tests.indexserver import IndexServer


@pytest.fixture(scope="module")
def server() -> IndexServer:
    with IndexServer(reliability_scenario()) as running:
        yield running  # type: ignore[misc]


def compile_all(root: Path, server: IndexServer, cache: Path, mirrors: str | None) -> bytes:
    env = cli_env(server, cache)
    if mirrors is not None:
        env["LOCKAUDIT_INDEX_MIRRORS"] = mirrors
    ran = Cli(root, env).run("compile", "--all", "--upgrade")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return b"".join(name.encode() + b"\0" + data for name, data in lock_bytes(root).items())


def test_warm_cache_after_a_mirror_change_gives_the_cold_answer(
    tmp_path: Path, server: IndexServer
) -> None:
    mirror = f"{server.index_url('pytorch-cu121')}={server.index_url('pytorch-cpu')}"
    base = make_workspace(tmp_path / "base", server)

    def fresh(name: str) -> Path:
        return Path(shutil.copytree(base, tmp_path / name))

    cold_plain = compile_all(fresh("a"), server, tmp_path / "cache-a", None)
    cold_mirrored = compile_all(fresh("b"), server, tmp_path / "cache-b", mirror)
    assert b"+cpu" in cold_mirrored.split(b"asr-cuda.txt\0")[1].split(b"\0")[0]
    assert cold_plain != cold_mirrored  # the mirror matters, so the cache must not hide it

    # the mirror removed, the cache warm from the mirrored run
    assert compile_all(fresh("c"), server, tmp_path / "cache-b", None) == cold_plain
    # the mirror added, the cache warm from the plain run
    assert compile_all(fresh("d"), server, tmp_path / "cache-a", mirror) == cold_mirrored
    # and back, in the same workspace: warm either way
    again = tmp_path / "c"
    assert compile_all(again, server, tmp_path / "cache-a", mirror) == cold_mirrored
    assert compile_all(again, server, tmp_path / "cache-a", None) == cold_plain
