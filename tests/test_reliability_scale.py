"""Item 8 of the reliability suite: a 200-image, 5,000-package workspace compiles and checks
in time linear in the number of images, with bounded memory (``-m slow``: minutes).

The workspaces are ``tests/indexserver/synthetic.py``'s scale series (10 images over 500
packages, 200 over 5,000); ``lockaudit compile`` then ``lockaudit check`` run as children with
a cold cache. The budget, per image: the 200-image run may cost at most ``SLACK`` times the
10-image run's seconds per image (linear growth with room for a busy machine; quadratic
growth would be 20 times), and no child may exceed ``MEMORY`` of resident memory.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lockaudit.locks import read_lock
from tests.corpus.harness import Cli, cli_env
from tests.indexserver import IndexServer
from tests.indexserver.synthetic import (
    SCALE_SERIES,
    SyntheticSpec,
    synthetic_scenario,
    write_workspace,
)

SLACK = 3.0
MEMORY = 1024 * 1024 * 1024  # bytes


@dataclass(frozen=True)
class Run:
    images: int
    compile_seconds: float
    check_seconds: float
    peak_rss: int  # bytes, the largest child so far


def _run(spec: SyntheticSpec, tmp: Path) -> Run:
    with IndexServer(synthetic_scenario(spec)) as server:
        workspace = write_workspace(tmp / "ws", spec)
        cli = Cli(workspace.root, cli_env(server, tmp / "cache"))
        started = time.monotonic()
        compiled = cli.run("compile", timeout=1800)
        compile_seconds = time.monotonic() - started
        assert compiled.returncode == 0, compiled.stderr[-2000:]
        started = time.monotonic()
        checked = cli.run("check", timeout=600)
        check_seconds = time.monotonic() - started
        assert checked.returncode == 0, checked.stdout[-2000:]
    locks = sorted((workspace.root / "locks").glob("*.layer.txt"))
    assert len(locks) == spec.images
    for path in locks:
        assert all(p.hashes for p in read_lock(path).packages), path
    # ru_maxrss is in KiB on Linux: the peak of the largest child waited for so far.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return Run(spec.images, compile_seconds, check_seconds, peak)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Run]]:
    small, large = SCALE_SERIES[0], SCALE_SERIES[-1]
    done = {spec.images: _run(spec, tmp_path_factory.mktemp(spec.label)) for spec in (small, large)}
    yield done


@pytest.mark.slow
def test_200_images_compile_within_the_linear_budget(runs: dict[int, Run]) -> None:
    small, large = runs[10], runs[200]
    per_image = (small.compile_seconds / 10, large.compile_seconds / 200)
    assert per_image[1] <= SLACK * per_image[0], per_image


@pytest.mark.slow
def test_200_images_check_within_the_linear_budget(runs: dict[int, Run]) -> None:
    small, large = runs[10], runs[200]
    per_image = (small.check_seconds / 10, large.check_seconds / 200)
    assert per_image[1] <= SLACK * per_image[0], per_image


@pytest.mark.slow
def test_memory_stays_bounded(runs: dict[int, Run]) -> None:
    assert runs[200].peak_rss <= MEMORY, runs[200].peak_rss
