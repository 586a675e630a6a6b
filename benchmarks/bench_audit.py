"""How long `lockaudit audit` takes on a workspace, warm (metadata cache filled).

    python benchmarks/bench_audit.py [--workspace PATH] [--runs N]

One cold run fills the metadata cache (its time is printed, not judged); then ``--runs`` warm
runs, each in-process with a fresh index client (as a new CLI run would have), are timed. The
budget is for the warm median on the 14-image pipeline.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from lockaudit.audit import audit_workspace
from lockaudit.report.sources import open_sources
from lockaudit.workspace.config import load_workspace

BUDGET_SECONDS = 20.0


def one_run(workspace: Path) -> tuple[float, int]:
    ws = load_workspace(workspace)
    start = time.perf_counter()
    with open_sources(ws) as (client, vulns):
        result = audit_workspace(ws, client, vulns=vulns)
    return time.perf_counter() - start, len(result.findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold, findings = one_run(args.workspace)
    print(f"cold run: {cold:.1f} s, {findings} findings")
    samples = [one_run(args.workspace)[0] for _ in range(args.runs)]
    median = statistics.median(samples)
    verdict = "within" if median < BUDGET_SECONDS else "OVER"
    print(
        f"lockaudit audit (warm): median {median:.1f} s over {len(samples)} runs "
        f"(min {min(samples):.1f}, max {max(samples):.1f}) — {verdict} the "
        f"{BUDGET_SECONDS:.0f} s budget"
    )


if __name__ == "__main__":
    main()
