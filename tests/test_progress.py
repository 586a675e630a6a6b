"""Progress on stderr: drawn for a terminal only, fed by the compile's and the index's hooks."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from lockaudit.builder.backends import BuildOutcome, BuildStatus
from lockaudit.builder.plan import BuildPlan, BuildStep
from lockaudit.builder.runner import Command
from lockaudit.compile import ImageResult, Status
from lockaudit.output.build_progress import build_progress
from lockaudit.output.progress import compile_progress, wanted
from lockaudit.workspace.model import Image, Target

ROOT = Path(__file__).resolve().parents[1]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_wanted_on_a_terminal_only_and_never_with_quiet() -> None:
    assert wanted(quiet=False, stream=_Terminal())
    assert not wanted(quiet=True, stream=_Terminal())
    assert not wanted(quiet=False, stream=io.StringIO())


def test_the_status_line_counts_images_requests_and_cache_hits() -> None:
    out = _Terminal()
    console = Console(file=out, force_terminal=True, width=120)
    image = Image("asr", "cuda", "docker/asr/Dockerfile", "base-ml:cuda", None, (), Target())
    with compile_progress(2, enabled=True, console=console) as progress:
        progress.starting(image)
        progress.on_request("http://127.0.0.1/simple/torch/")
        progress.on_request("http://127.0.0.1/simple/numpy/")
        progress.on_cache_hit("http://127.0.0.1/simple/rich/")
        progress.finished(ImageResult("asr:cuda", Status.WRITTEN))
        line = progress.line()
    assert line == "resolving asr:cuda (1/2 images) · 2 requests · 1 from cache"
    assert "asr:cuda" in out.getvalue()  # drawn while it ran (transient: erased after)


def test_disabled_progress_draws_nothing_but_still_counts() -> None:
    out = _Terminal()
    console = Console(file=out, force_terminal=True)
    with compile_progress(1, enabled=False, console=console) as progress:
        progress.on_request("http://127.0.0.1/simple/torch/")
    assert out.getvalue() == ""
    assert "1 requests" in progress.line()


def test_a_compile_into_a_pipe_prints_no_progress() -> None:
    """Hooks and CI logs see the result only: stderr is not a terminal there."""
    done = subprocess.run(
        [sys.executable, "-m", "lockaudit", "compile", "--all", "--offline", "--dry-run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "resolving" not in done.stderr and "requests" not in done.stderr
    assert "up to date" in done.stdout


def test_the_build_line_counts_images_and_the_clock_of_the_current_one() -> None:
    out = _Terminal()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    now = [100.0]
    steps = tuple(
        BuildStep(key, f"local/{key}", "Dockerfile", ".", (), (), None, "new", target=key)
        for key in ("base:cpu", "asr:cpu", "mux:cpu")
    )
    with build_progress(enabled=True, console=console) as progress:
        progress._clock = lambda: now[0]
        progress.planned(BuildPlan(steps))
        progress.starting(steps[0], Command(("docker", "build", ".")))
        now[0] += 42.4
        assert progress.line() == "building base:cpu 42 s (0/3 images)"
        progress.finished(BuildOutcome("base:cpu", BuildStatus.BUILT))
        progress.starting(steps[1], Command(("docker", "build", ".")))
        progress.finished(BuildOutcome("asr:cpu", BuildStatus.FAILED))
        progress.finished(BuildOutcome("mux:cpu", BuildStatus.BLOCKED))
        line = progress.line()
    assert line == "building asr:cpu 0 s (3/3 images) · 2 not built"
    assert "base:cpu" in out.getvalue()  # drawn while it ran


def test_a_build_into_a_pipe_prints_no_progress() -> None:
    with build_progress(enabled=wanted(quiet=False, stream=io.StringIO())) as progress:
        progress.planned(BuildPlan(()))
    assert progress._live is None
