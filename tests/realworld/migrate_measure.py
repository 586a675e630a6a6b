"""Print, per corpus repository, what ``lockaudit migrate --write`` then ``lockaudit check`` give
on a scratch copy of its trimmed files: images, Dockerfiles rewritten, bytes changed outside the
install lines (must be 0), the migration's outcome and check's error count.

    python tests/realworld/migrate_measure.py [REPO ...]

Reads the index of your pip configuration (migrate compiles the locks). Reads the trimmed copies
from ``LOCKAUDIT_REALWORLD_DIR`` (default ``../shared/realworld`` beside the repository); writes
only into temporary directories.
"""

from __future__ import annotations

import difflib
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``tests.realworld`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lockaudit.errors import LockauditError
from lockaudit.migrate import FileChange, apply_migration, plan_migration
from lockaudit.parsing.dockerfile import parse_dockerfile_text
from lockaudit.rules import run_checks
from lockaudit.rules.findings import Severity
from lockaudit.workspace.config import load_workspace
from tests.realworld.compare import corpus_repos, data_root

COLUMNS = ("repository", "images", "Dockerfiles rewritten", "bytes outside installs",
           "migrate", "check errors")


@dataclass(frozen=True)
class Migrated:
    repo: str
    images: int
    rewritten: int
    outside: int  # bytes changed outside the pip install RUN steps and the lock COPY/ARG lines
    outcome: str  # "written", or why nothing was written
    errors: tuple[str, ...]  # check's errors after it (none checked when nothing was written)

    @property
    def passes(self) -> bool:
        return self.outcome == "written" and not self.errors


def outside_bytes(change: FileChange) -> int:
    """Bytes of a rewritten Dockerfile that changed outside what a migration may change, found
    by difflib independently of the planner's edits: a removed or replaced line must belong to a
    RUN instruction that ran pip; an added line must be the lock's COPY/ARG or a pip command."""
    old = change.old or ""
    parsed = parse_dockerfile_text(old, change.path, {})
    allowed: set[int] = set()
    for stage in parsed.stages:
        for instruction in stage.instructions:
            if instruction.keyword == "RUN" and any(
                instruction.location.line <= i.location.line <= instruction.end_line
                for i in stage.pip_installs
            ):
                allowed.update(range(instruction.location.line, instruction.end_line + 1))
    a, b = old.splitlines(keepends=True), change.new.splitlines(keepends=True)
    count = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        outside = [i for i in range(i1, i2) if i + 1 not in allowed]
        count += sum(len(a[i]) for i in outside)
        if i1 < i2 and not outside:
            continue  # lines of a RUN that ran pip, rewritten
        count += sum(len(line) for line in b[j1:j2] if not _lock_line(line))
    return count


def _lock_line(line: str) -> bool:
    words = line.split()
    return bool(words) and (
        (words[0] in ("COPY", "ARG") and ("layer" in line or "LAYER_LOCK" in line))
        or "pip" in words or any(w.endswith("/pip") for w in words)
    )


def migrate_copy(repo: str, root: Path) -> Migrated:
    """Migrate the copy at ``root`` with the index of the pip configuration, then check it."""
    from lockaudit.index.factory import build_index_client

    try:
        result = apply_migration(plan_migration(root), lambda ws: build_index_client(ws))
    except LockauditError as e:
        return Migrated(repo, 0, 0, 0, f"error: {e}".splitlines()[0][:160], ())
    plan = result.plan  # without the images left out
    rewritten = plan.dockerfiles
    outside = sum(outside_bytes(change) for change in rewritten)
    if not result.written:
        return Migrated(repo, len(plan.images), 0, 0,
                        f"not written: {', '.join(result.left_out)} do not resolve", ())
    outcome = "written" if result.ok else f"partial: {', '.join(result.left_out)} left out"
    findings = run_checks(load_workspace(root))
    errors = tuple(
        f"{f.location}: {f.rule}" for f in findings if f.severity is Severity.ERROR
    )
    return Migrated(repo, len(plan.images), len(rewritten), outside, outcome, errors)


def measure(repo: str) -> Migrated:
    with tempfile.TemporaryDirectory(prefix=f"{repo}-") as scratch:
        root = Path(scratch) / repo
        shutil.copytree(data_root() / repo, root)
        return migrate_copy(repo, root)


def main(argv: list[str]) -> int:
    repos = argv or [r for r in corpus_repos() if (data_root() / r).is_dir()]
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for repo in repos:
        m = measure(repo)
        check = "pass" if m.passes else (f"{len(m.errors)}: " + "; ".join(m.errors[:3])
                                          if m.errors else "-")
        print(f"| {repo} | {m.images} | {m.rewritten} | {m.outside} | {m.outcome} | {check} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
