"""The gate as a pre-commit hook runs it: ``lockaudit check``, nothing else on the command line.

    python benchmarks/bench_gate.py [--runs 9] [--skip-scale]

Prints two pairs of figures, each the median of ``--runs`` whole processes (interpreter start
included, in the workspace folder, as a hook runs it) after one warm-up:

* the embedded workspace (this repository's ``[tool.lockaudit]``): with nothing changed, and
  right after an edit of ``requirements-common.txt``;
* a generated 200-image workspace (``tests/indexserver/synthetic``, compiled once on a loopback
  index): with nothing changed, and right after an edit of one stage's requirements file.

Each edit adds one more trailing blank line: the file's bytes are new every run (so the check cache
and every cache keyed by bytes miss and every rule runs again), while the locks stay fresh
(lock digests ignore trailing whitespace), so the check still has no finding — the case a hook
meets after an edit that ``compile`` has already locked. The edited file is restored byte for
byte at the end, even on an error. The goals (issues 14 and 19): embedded < 0.1 s unchanged and
< 0.2 s after the edit; 200 images < 0.15 s unchanged and < 0.3 s after the edit. No test times
anything: this script is where the figures come from.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # a fresh clone: benchmarks/ and tests/ are not installed

from benchmarks.tools import child_env  # noqa: E402


def _command() -> list[str]:
    exe = shutil.which("lockaudit")
    return [exe, "check"] if exe else [sys.executable, "-m", "lockaudit", "check"]


def _time(workspace: Path, env: dict[str, str], runs: int, before: Callable[[], None]) -> float:
    """Median wall time of ``lockaudit check`` in ``workspace``, ``before()`` ahead of each run."""
    samples = []
    for _ in range(runs + 1):  # the first is a warm-up
        before()
        start = time.perf_counter()
        done = subprocess.run(_command(), cwd=workspace, env=env, capture_output=True, check=False)
        samples.append(time.perf_counter() - start)
        if done.returncode != 0:
            sys.exit(f"lockaudit check failed in {workspace}:\n{done.stdout.decode()}")
    return statistics.median(samples[1:])


@contextlib.contextmanager
def _edited(path: Path) -> Iterator[Callable[[], None]]:
    """A function that edits ``path`` to bytes it has not had before (one more trailing blank
    line each call); restored at exit.

    Every edit must be new: toggling between two contents would let the check cache answer
    both after the warm-up, and the figure would be a cache hit, not a check after an edit.
    """
    original = path.read_bytes()
    calls = [0]

    def edit() -> None:
        calls[0] += 1
        path.write_bytes(original + b"\n" * calls[0])

    try:
        yield edit
    finally:
        path.write_bytes(original)


def _pair(
    label: str,
    workspace: Path,
    edited: Path,
    env: dict[str, str],
    runs: int,
    goals: tuple[float, float],
) -> None:
    """Print the unchanged and after-edit medians of ``workspace`` against their ``goals``."""
    unchanged = _time(workspace, env, runs, lambda: None)
    with _edited(edited) as edit:
        after_edit = _time(workspace, env, runs, edit)
    what = os.path.relpath(edited, workspace)
    for name, value, goal in (
        (f"{label}, nothing changed", unchanged, goals[0]),
        (f"{label}, after an edit of {what}", after_edit, goals[1]),
    ):
        verdict = "met" if value < goal else "NOT met"
        shown = f"median {value * 1000:.0f} ms of {runs} runs"
        print(f"{name}: {shown} (goal < {goal * 1000:.0f} ms: {verdict})")


def _scale(runs: int, scratch: Path) -> None:
    from tests.indexserver import IndexServer
    from tests.indexserver.synthetic import (
        SCALE_SERIES,
        synthetic_scenario,
        write_pip_config,
        write_workspace,
    )

    spec = SCALE_SERIES[-1]  # 200 images over 5,000 packages
    with IndexServer(synthetic_scenario(spec)) as server:
        workspace = write_workspace(scratch / "ws", spec).root
        conf = write_pip_config(scratch / "pip.conf", server.index_url("default"))
        (scratch / "xdg").mkdir()
        env = child_env(
            {
                "PIP_CONFIG_FILE": str(conf),
                "XDG_CONFIG_DIRS": str(scratch / "xdg"),
                "LOCKAUDIT_CACHE_DIR": str(scratch / "cache"),
            }
        )
        start = time.perf_counter()
        compiled = subprocess.run(
            [*_command()[:-1], "compile", "--all", "--quiet"],
            cwd=workspace,
            env=env,
            capture_output=True,
            check=False,
        )
        if compiled.returncode != 0:
            sys.exit(f"compile --all failed:\n{compiled.stderr.decode()}")
        print(f"(200 images compiled in {time.perf_counter() - start:.0f} s)")
        stage = sorted((workspace / "docker").glob("*/requirements.txt"))[-1]
        _pair("200 images", workspace, stage, env, runs, (0.15, 0.3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--skip-scale", action="store_true", help="only the embedded workspace")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="lockaudit-gate-") as tmp:
        scratch = Path(tmp)
        env = child_env({"LOCKAUDIT_CACHE_DIR": str(scratch / "embedded-cache")})
        _pair("embedded", ROOT, ROOT / "requirements-common.txt", env, args.runs, (0.1, 0.2))
        if not args.skip_scale:
            _scale(args.runs, scratch / "scale")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
