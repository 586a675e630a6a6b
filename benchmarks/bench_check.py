"""How long `lockaudit check` takes on a workspace, as a pre-commit hook would run it.

    python benchmarks/bench_check.py [--workspace PATH] [--runs N]

Runs the installed console script in a fresh process each time (interpreter start included,
as a hook pays it), after one warm-up run, and prints the median and spread of wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUDGET_SECONDS = 0.3


def time_check(workspace: Path, runs: int, *, cached: bool) -> list[float]:
    exe = shutil.which("lockaudit")
    command = [exe] if exe else [sys.executable, "-m", "lockaudit"]
    command += ["check", "--workspace", str(workspace), "--format", "json"]
    if not cached:
        command.append("--no-cache")
    # A hook's environment keeps bytecode caches; some CI images disable writing them, which
    # would make every run recompile lockaudit from source. Measure what a user's hook pays.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(command, capture_output=True, check=False, env=env)  # warm-up: caches
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, check=False, env=env)
        samples.append(time.perf_counter() - start)
        if done.returncode > 1:
            sys.exit(f"lockaudit check failed: {done.stderr.decode(errors='replace')}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    # A hook mostly runs with nothing changed (the result cache answers); after an edit it
    # checks everything again (--no-cache measures that case).
    for label, cached in (("no file changed", True), ("every rule run (--no-cache)", False)):
        samples = time_check(args.workspace, args.runs, cached=cached)
        median = statistics.median(samples)
        verdict = "within" if median < BUDGET_SECONDS else "OVER"
        print(
            f"lockaudit check, {label}: median {median * 1000:.0f} ms over {len(samples)} runs "
            f"(min {min(samples) * 1000:.0f}, max {max(samples) * 1000:.0f}) — "
            f"{verdict} the {BUDGET_SECONDS * 1000:.0f} ms pre-commit budget"
        )


if __name__ == "__main__":
    main()
