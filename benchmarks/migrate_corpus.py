"""Measure ``lockaudit migrate`` on the real-repository corpus (manual run; talks to the index).

    python benchmarks/migrate_corpus.py [REPO ...]

Each trimmed copy (``tests/realworld/README.md`` says where they live) is copied to a scratch
folder, planned, written with the locks compiled against pip's configured index (PyTorch
indexes served from it: they are out of reach here), then checked. Per repository it prints the
images, the Dockerfiles rewritten, the check result and the bytes changed outside install lines,
measured with difflib against the parser's own positions of the ``pip install`` commands (not
the planner's edit list). Prints a Markdown table.
"""

from __future__ import annotations

import difflib
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lockaudit.errors import LockauditError  # noqa: E402
from lockaudit.index.factory import build_index_client  # noqa: E402
from lockaudit.migrate import FileChange, apply_migration, plan_migration  # noqa: E402
from lockaudit.migrate._spans import Lines, escape_of, run_text  # noqa: E402
from lockaudit.parsing.dockerfile import parse_dockerfile_text  # noqa: E402
from lockaudit.rules import run_checks  # noqa: E402
from lockaudit.rules.findings import Severity  # noqa: E402
from lockaudit.workspace.config import load_workspace  # noqa: E402

_MIRRORS = "https://download.pytorch.org=default"


def install_lines(path: str, text: str) -> set[int]:
    """Physical lines spanned by ``pip install`` commands (and lines of RUNs made only of them)."""
    lines = Lines.of(text)
    escape = escape_of(lines)
    dockerfile = parse_dockerfile_text(text, path)
    found: set[int] = set()
    for stage in dockerfile.stages:
        install_at = {i.location.line for i in stage.pip_installs}
        for instruction in stage.instructions:
            if instruction.keyword != "RUN":
                continue
            span = range(instruction.location.line, instruction.end_line + 1)
            if not install_at.intersection(span):
                continue
            run = run_text(lines, instruction, escape)
            if run is None:
                continue
            for command in run.commands:
                if "install" not in command.command.argv:
                    continue
                first = command.line
                last = first + text[command.start : command.end].count("\n")
                found.update(range(first, last + 1))
    return found


def bytes_outside(change: FileChange) -> int:
    old = change.old or ""
    allowed = install_lines(change.path, old)
    a, b = old.splitlines(keepends=True), change.new.splitlines(keepends=True)
    outside = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes():
        if tag == "equal":
            continue
        outside += sum(len(a[i]) for i in range(i1, i2) if i + 1 not in allowed)
        outside += sum(len(line) for line in b[j1:j2] if not _lock_line(line))
    return outside


def _lock_line(line: str) -> bool:
    """A line the rewrite adds: the lock's ARG/COPY, or a command line with a pip install."""
    text = line.strip()
    return (
        text.startswith(("ARG LAYER_LOCK=", "ARG LOCKAUDIT_LAYER_LOCK="))
        or (text.startswith("COPY ") and text.endswith("/tmp/lockaudit/layer.txt"))
        or " install " in f" {text} "
        or text in ("", "\\")
    )


def measure(name: str, source: Path, scratch: Path) -> dict[str, object]:
    root = scratch / name
    shutil.copytree(source, root)
    row: dict[str, object] = {"repo": name}
    try:
        plan = plan_migration(root)
    except LockauditError as e:
        row["result"] = f"plan: {e.message[:90]}"
        return row
    row["images"] = len(plan.images)
    row["rewritten"] = len(plan.dockerfiles)
    row["outside"] = sum(bytes_outside(c) for c in plan.dockerfiles)
    row["notes"] = len(plan.notes)
    if not plan.dockerfiles:
        row["result"] = "nothing to rewrite"
        return row
    try:
        result = apply_migration(plan, lambda ws: build_index_client(ws))
    except LockauditError as e:
        row["result"] = f"compile: {e.message[:90]}"
        return row
    if not result.ok:
        failed = [r for r in result.compiled.results if r.reason]
        row["result"] = f"does not resolve ({len(failed)} images), nothing written"
        return row
    findings = run_checks(load_workspace(root))
    errors = [f for f in findings if f.severity is Severity.ERROR]
    rules = sorted({f.rule for f in errors}) if errors else []
    row["result"] = f"check: {len(errors)} errors" + (f" ({', '.join(rules)})" if rules else "")
    return row


def main(argv: list[str]) -> int:
    os.environ.setdefault("LOCKAUDIT_INDEX_MIRRORS", _MIRRORS)
    data = Path(os.environ.get("LOCKAUDIT_REALWORLD_DIR", ROOT.parent / "shared" / "realworld"))
    names = argv or sorted(p.name for p in data.iterdir() if p.is_dir())
    rows = []
    with tempfile.TemporaryDirectory(prefix="lockaudit-migrate-corpus-") as scratch:
        for name in names:
            row = measure(name, data / name, Path(scratch))
            print(row, file=sys.stderr, flush=True)
            rows.append(row)
    print("| repo | images | Dockerfiles rewritten | result | bytes outside install lines |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['repo']} | {row.get('images', '-')} | {row.get('rewritten', '-')} | "
            f"{row['result']} | {row.get('outside', '-')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
