"""Print, per corpus repository, how ``lockaudit init``'s proposal compares with the hand-written
graph: images expected / found / matched, edges expected / right, requirement files expected /
found, Dockerfiles left undecided, and discovery's problems.

    python tests/realworld/measure.py [--diff] [REPO ...]
    python tests/realworld/measure.py --audit [REPO ...]

``--diff`` also prints every difference. ``--audit`` measures the audit instead (reads the
index): per repository, expected findings found / missed, known non-defects reported at warning
or error, and the findings the text output shows by default (``precision.py``).
Reads the trimmed copies from ``LOCKAUDIT_REALWORLD_DIR``
(default ``../shared/realworld`` beside the repository).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tests.realworld`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lockaudit.errors import LockauditError
from lockaudit.workspace.discover import discover_workspace
from tests.realworld.compare import (
    Comparison,
    compare,
    corpus_repos,
    data_root,
    load_expected,
    render,
)

COLUMNS = ("repository", "images exp/found/matched", "edges exp/right/source named",
           "req files exp/found",
           "undecided", "problems", "differences")


def measure(repo: str) -> Comparison | str:
    expected = load_expected(repo)
    tree = data_root() / repo
    if not tree.is_dir():
        return f"no trimmed files at {tree}"
    try:
        return compare(expected, discover_workspace(tree), tree)
    except LockauditError as error:
        return f"init failed: {error}"


def row(repo: str, result: Comparison | str) -> list[str]:
    if isinstance(result, str):
        return [repo, result, "", "", "", "", ""]
    return [
        repo,
        f"{result.images_expected}/{result.images_found}/{result.images_matched}",
        f"{result.edges_expected}/{result.edges_right}/{result.edge_sources_named}",
        f"{result.requirements_expected}/{result.requirements_found}",
        str(len(result.undecided)),
        str(result.problems),
        str(len(result.differences)),
    ]


AUDIT_COLUMNS = ("repository", "expected", "found", "missed", "false positives",
                 "shown by default", "check findings")


def measure_audit(repos: list[str]) -> int:
    from tests.realworld.precision import measure_precision, render_precision

    results = [measure_precision(repo) for repo in repos]
    rows = [list(AUDIT_COLUMNS)] + [
        [r.repo, str(len(r.expected)), str(r.found), str(len(r.missed)),
         str(len(r.false_positives)), str(r.shown), str(len(r.checks))]
        for r in results
    ]
    total = [sum(int(row[i]) for row in rows[1:]) for i in range(1, len(AUDIT_COLUMNS))]
    rows.append(["total", *map(str, total)])
    _table(rows)
    for result in results:
        print()
        print(render_precision(result))
    return 0


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, cells in enumerate(rows):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repos", nargs="*", help="corpus folders (default: all)")
    parser.add_argument("--diff", action="store_true", help="print every difference too")
    parser.add_argument("--audit", action="store_true", help="measure the audit's findings")
    args = parser.parse_args(argv)
    repos = args.repos or corpus_repos()
    if args.audit:
        return measure_audit(repos)
    results = {repo: measure(repo) for repo in repos}
    _table([list(COLUMNS), *(row(repo, result) for repo, result in results.items())])
    if args.diff:
        for result in results.values():
            if isinstance(result, Comparison):
                print()
                print(render(result))
                if result.undecided:
                    print("  undecided: " + ", ".join(result.undecided))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
